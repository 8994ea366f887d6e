package janitorctl

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// The chart's labels (charts/akash-janitor/templates/_helpers.tpl,
// akash-janitor.labels): every object of a release carries them.
const (
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelChart     = "helm.sh/chart"
	LabelVersion   = "app.kubernetes.io/version"
	// PartOf is the value of LabelPartOf.
	PartOf = "akash-janitor"
)

// component is one workload of a release: a CronJob, the zombie-reaper
// DaemonSet or the bid-price Deployment.
type component struct {
	Name       string // its app.kubernetes.io/component
	Kind       string
	Object     string // its name
	Namespace  string
	Labels     map[string]string
	CronJob    *batchv1.CronJob
	DaemonSet  *appsv1.DaemonSet
	Deployment *appsv1.Deployment
}

// podSpec is the spec of the component's pods.
func (c *component) podSpec() *corev1.PodSpec {
	switch {
	case c.CronJob != nil:
		return &c.CronJob.Spec.JobTemplate.Spec.Template.Spec
	case c.DaemonSet != nil:
		return &c.DaemonSet.Spec.Template.Spec
	case c.Deployment != nil:
		return &c.Deployment.Spec.Template.Spec
	}
	return nil
}

// container is the job's container: the one named after the component,
// as the chart names it, else the first.
func (c *component) container() *corev1.Container {
	spec := c.podSpec()
	if spec == nil || len(spec.Containers) == 0 {
		return nil
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == c.Name {
			return &spec.Containers[i]
		}
	}
	return &spec.Containers[0]
}

// setting is the value a job started from this component reads for one
// of its flags: the argument (--name=value, --name value, or a bare --name
// for a boolean) if given, else its environment variable (job.EnvName:
// --pause-namespace is JANITOR_PAUSE_NAMESPACE), a flag winning over the
// environment as lib/job's ParseFlags decides. A fieldRef to the pod's
// namespace reads as the component's namespace (the chart sets the pause
// namespace so). ok is false when neither is set.
func (c *component) setting(flag string, boolean bool) (value string, ok bool) {
	ctr := c.container()
	if ctr == nil {
		return "", false
	}
	if v, ok := argValue(ctr.Args, flag, boolean); ok {
		return v, true
	}
	name := job.EnvName(flag)
	for _, e := range ctr.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			return c.Namespace, true
		}
		return e.Value, true
	}
	return "", false
}

// argValue is the value args give the flag, the last one winning as pflag
// parses them. A boolean alone is true (pflag never takes the next
// argument as a boolean's value); another flag's value may follow it.
func argValue(args []string, flag string, boolean bool) (string, bool) {
	value, found := "", false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case strings.HasPrefix(a, "--"+flag+"="):
			value, found = strings.TrimPrefix(a, "--"+flag+"="), true
		case a == "--"+flag && boolean:
			value, found = "true", true
		case a == "--"+flag && i+1 < len(args):
			value, found = args[i+1], true
			i++
		}
	}
	return value, found
}

// release is one installed akash-janitor release: its components.
type release struct {
	Name       string
	Namespace  string
	Chart      string // helm.sh/chart: akash-janitor-<chart version>
	AppVersion string
	Components []*component
}

// cronJob is the release's CronJob a job is named by: its component name
// (dangling-deployments) or the CronJob's own name.
func (r *release) cronJob(name string) (*component, error) {
	var cronJobs []string
	for _, c := range r.Components {
		if c.Name == name || c.Object == name {
			if c.CronJob == nil {
				return nil, badInput("%s is a %s (%s/%s), not a CronJob: it runs all the time, there is no run to start", name, c.Kind, r.Namespace, c.Object)
			}
			return c, nil
		}
		if c.CronJob != nil {
			cronJobs = append(cronJobs, c.Name)
		}
	}
	sort.Strings(cronJobs)
	return nil, badInput("unknown job %q in release %s (namespace %s): want one of %s", name, r.Name, r.Namespace, strings.Join(cronJobs, ", "))
}

// workloads lists the namespace's akash-janitor CronJobs, DaemonSets and
// Deployments (by the chart's part-of label), three LISTs.
func workloads(ctx context.Context, c *kube.Clients, namespace string) ([]*component, error) {
	sel := metav1.ListOptions{LabelSelector: labels.Set{LabelPartOf: PartOf}.String()}
	var out []*component
	add := func(kind string, meta metav1.ObjectMeta) *component {
		comp := &component{Name: meta.Labels[LabelComponent], Kind: kind, Object: meta.Name, Namespace: meta.Namespace, Labels: meta.Labels}
		if comp.Name == "" {
			comp.Name = meta.Name
		}
		out = append(out, comp)
		return comp
	}
	cjs, err := kube.ListAll[batchv1.CronJob](ctx, 0, sel, c.Kube.BatchV1().CronJobs(namespace).List)
	if err != nil {
		return nil, fmt.Errorf("list CronJobs in namespace %s: %w", namespace, err)
	}
	for i := range cjs {
		add("CronJob", cjs[i].ObjectMeta).CronJob = &cjs[i]
	}
	dss, err := kube.ListAll[appsv1.DaemonSet](ctx, 0, sel, c.Kube.AppsV1().DaemonSets(namespace).List)
	if err != nil {
		return nil, fmt.Errorf("list DaemonSets in namespace %s: %w", namespace, err)
	}
	for i := range dss {
		add("DaemonSet", dss[i].ObjectMeta).DaemonSet = &dss[i]
	}
	deps, err := kube.ListAll[appsv1.Deployment](ctx, 0, sel, c.Kube.AppsV1().Deployments(namespace).List)
	if err != nil {
		return nil, fmt.Errorf("list Deployments in namespace %s: %w", namespace, err)
	}
	for i := range deps {
		add("Deployment", deps[i].ObjectMeta).Deployment = &deps[i]
	}
	return out, nil
}

// releases groups the components by their release (app.kubernetes.io/instance).
func releases(namespace string, comps []*component) map[string]*release {
	out := map[string]*release{}
	for _, c := range comps {
		name := c.Labels[LabelInstance]
		if name == "" {
			continue
		}
		r := out[name]
		if r == nil {
			r = &release{Name: name, Namespace: namespace, Chart: c.Labels[LabelChart], AppVersion: c.Labels[LabelVersion]}
			out[name] = r
		}
		r.Components = append(r.Components, c)
	}
	for _, r := range out {
		sort.Slice(r.Components, func(i, j int) bool {
			a, b := r.Components[i], r.Components[j]
			if ka, kb := kindOrder(a.Kind), kindOrder(b.Kind); ka != kb {
				return ka < kb
			}
			return a.Name < b.Name
		})
	}
	return out
}

func kindOrder(kind string) int {
	return slices.Index([]string{"CronJob", "DaemonSet", "Deployment"}, kind)
}

// choose picks the release --release names, or the only one there is; the
// error names the namespace and what it holds.
func choose(namespace, want string, found map[string]*release) (*release, error) {
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	switch {
	case want != "" && found[want] != nil:
		return found[want], nil
	case want != "" && len(names) == 0:
		return nil, badInput("release %q not found in namespace %s: no akash-janitor release is installed there (the chart installs in akash-services: -n akash-services)", want, namespace)
	case want != "":
		return nil, badInput("release %q not found in namespace %s; its akash-janitor releases: %s", want, namespace, strings.Join(names, ", "))
	case len(names) == 0:
		return nil, badInput("no akash-janitor release found in namespace %s (the chart installs in akash-services: -n akash-services)", namespace)
	case len(names) > 1:
		return nil, badInput("several akash-janitor releases in namespace %s: %s; choose one with --release", namespace, strings.Join(names, ", "))
	}
	return found[names[0]], nil
}

// release finds the release the flags name.
func (o *Options) release(ctx context.Context) (*release, error) {
	c, err := o.Clients()
	if err != nil {
		return nil, err
	}
	ns, err := o.Namespace()
	if err != nil {
		return nil, err
	}
	comps, err := workloads(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	return choose(ns, o.Release, releases(ns, comps))
}

// completeReleases completes --release with the namespace's releases.
func (o *Options) completeReleases(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, err := o.Clients()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ns, err := o.Namespace()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	comps, err := workloads(cmd.Context(), c, ns)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for n := range releases(ns, comps) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeNamespaces completes -n with the cluster's namespaces.
func (o *Options) completeNamespaces(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, err := o.Clients()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	list, err := c.Kube.CoreV1().Namespaces().List(cmd.Context(), metav1.ListOptions{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
