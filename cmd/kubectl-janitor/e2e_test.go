package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/janitorctl"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "n1", CPU: "16", Memory: "64Gi"}))
}

// The release every test reads: the chart with its defaults, bid-price on,
// and a denylist (so the admission policy is rendered), installed with the
// Helm SDK as helm install does, next to a Ready provider pod.
const (
	namespace = "akash-services"
	release   = "akash-janitor"
)

var (
	denylist  = []string{"packetstream/psclient", "regex:.*xmrig.*"}
	allowlist = []string{"ghcr.io/tenant/psclient:1.0"}
)

var (
	installOnce sync.Once
	installErr  error
)

// installed is the shared cluster with the release installed (once).
func installed(t *testing.T) *kubetest.Cluster {
	t.Helper()
	c, b := akashtest.Shared(t)
	installOnce.Do(func() {
		ctx := context.Background()
		if installErr = b.ProviderPod(ctx); installErr != nil {
			return
		}
		installErr = helmInstall(t, c, release, namespace, map[string]any{
			"bidPrice": map[string]any{"enabled": true},
			"killLeaseByImage": map[string]any{
				"denylist":  toAny(denylist),
				"allowlist": toAny(allowlist),
			},
		})
		if installErr != nil {
			return
		}
		// The admission policy's lists, written as kill-lease-by-image
		// writes them each run (kwok runs no container, so the chart's
		// hook Job completes without writing them).
		lists, err := imagematch.ParseLists(denylist, allowlist)
		if err != nil {
			installErr = err
			return
		}
		_, installErr = admissionparams.Write(ctx, c.Dynamic(), namespace, release+"-denied-images-params", lists.AdmissionParams(), nil)
	})
	require.NoError(t, installErr, "install the chart")
	return c
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// helmInstall installs the chart as `helm install NAME charts/akash-janitor
// -n NS` does, the namespace made first when it is not there.
func helmInstall(t *testing.T, c *kubetest.Cluster, name, ns string, values map[string]any) error {
	ctx := context.Background()
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	settings := cli.New()
	settings.KubeConfig = c.KubeconfigPath
	settings.SetNamespace(ns)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), ns, "secret", t.Logf); err != nil {
		return err
	}
	chrt, err := loader.Load(charttest.ChartDir())
	if err != nil {
		return err
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = name, ns, 2*time.Minute
	_, err = inst.Run(chrt, values)
	return err
}

// kj runs `kubectl janitor ARGS` against the cluster, in process, as the
// binary runs it (janitorctl.Execute), and returns what it printed and its
// exit code.
func kj(t *testing.T, c *kubetest.Cluster, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := janitorctl.NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	code = janitorctl.Execute(context.Background(), cmd, append([]string{"--kubeconfig", c.KubeconfigPath}, args...), &errOut)
	t.Logf("kubectl janitor %s -> exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// row is the table row of the status output that starts with name.
func row(t *testing.T, out, name string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	t.Fatalf("no row %s in:\n%s", name, out)
	return nil
}

func statusJSON(t *testing.T, c *kubetest.Cluster, args ...string) janitorctl.Status {
	t.Helper()
	out, _, code := kj(t, c, append([]string{"status", "-n", namespace, "-o", "json"}, args...)...)
	require.Equal(t, 0, code)
	var st janitorctl.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	return st
}

func component(t *testing.T, st janitorctl.Status, name string) janitorctl.ComponentStatus {
	t.Helper()
	for _, c := range st.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("status has no component %s", name)
	return janitorctl.ComponentStatus{}
}

// Status lists every component the chart installed, each with its
// schedule, whether it runs dry, and the release's switch, blocker,
// budget and admission lists.
func TestStatus(t *testing.T) {
	c := installed(t)
	ctx := context.Background()

	out, _, code := kj(t, c, "status", "-n", namespace)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "Release akash-janitor in namespace akash-services (chart akash-janitor-")

	cronJobs, err := c.Kube.BatchV1().CronJobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	require.NotEmpty(t, cronJobs.Items)
	for _, cj := range cronJobs.Items {
		name := cj.Labels["app.kubernetes.io/component"]
		r := row(t, out, name)
		assert.Equal(t, "CronJob", r[1], name)
		assert.Contains(t, strings.Join(r, " "), "CronJob "+cj.Spec.Schedule+" ", "%s shows its schedule", name)
	}
	assert.Equal(t, []string{"zombie-reaper", "DaemonSet", "every", "30s"}, row(t, out, "zombie-reaper")[:4])
	assert.Equal(t, []string{"bid-price", "Deployment", "-"}, row(t, out, "bid-price")[:3])
	fr := row(t, out, "force-replicasets")
	assert.Equal(t, []string{"live", "active"}, fr[len(fr)-2:], "force-replicasets acts on a fresh install")
	kl := row(t, out, "kill-lease-by-image")
	assert.Equal(t, []string{"dry-run", "active"}, kl[len(kl)-2:], "kill-lease-by-image only logs until told")

	assert.Contains(t, out, "Pause:         off: no ConfigMap akash-services/akash-janitor-pause, the jobs act")
	assert.Contains(t, out, "Blockers:      pod akash-services/akash-provider-0 is Ready")
	assert.Contains(t, out, "Close budget:  20 of 20 lease closes left (0 used in the last 24h, ConfigMap akash-services/akash-janitor-close-budget)")
	assert.Contains(t, out, "Admission:     ValidatingAdmissionPolicy akash-janitor-denied-images, actions [Warn Audit], failurePolicy Ignore")
	assert.Contains(t, out, "ImageDenylist akash-services/akash-janitor-denied-images-params: 2 denied, 1 allowed")
	assert.Regexp(t, `deny\s+packetstream/psclient\n.*deny\s+regex:\.\*xmrig\.\*\n.*allow\s+ghcr.io/tenant/psclient:1.0`, out)

	st := statusJSON(t, c)
	daemonSets, err := c.Kube.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	deployments, err := c.Kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	assert.Len(t, st.Components, len(cronJobs.Items)+len(daemonSets.Items)+len(deployments.Items), "every CronJob, DaemonSet and Deployment of the release")
	assert.Equal(t, []string{"packetstream/psclient", "regex:.*xmrig.*"}, st.AdmissionPolicy.Deny)
	reap := component(t, st, "zombie-reaper")
	assert.Regexp(t, `^[0-9]+/1$`, reap.Ready, "one node, one reaper pod")

	// Two closes spent from the budget the way the jobs spend them.
	budget := &closebudget.Budget{Client: c.Kube, Namespace: namespace, Name: release + "-close-budget", PerDay: 20, Job: "kill-lease-by-image"}
	_, err = budget.Spend(ctx, []string{akashtest.LeaseID(1).String(), akashtest.LeaseID(2).String()})
	require.NoError(t, err)
	st = statusJSON(t, c)
	require.NotNil(t, st.CloseBudget)
	assert.Equal(t, 2, st.CloseBudget.Used)
	assert.Equal(t, 18, st.CloseBudget.Left)
	assert.Equal(t, []string{"kill-lease-by-image"}, st.CloseBudget.Components, "dangling-deployments closes no lease until told (no closer, no budget)")
	require.NotNil(t, st.CloseBudget.NextFree)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), *st.CloseBudget.NextFree, time.Minute)
	out, _, _ = kj(t, c, "status", "-n", namespace)
	assert.Contains(t, out, "Close budget:  18 of 20 lease closes left (2 used in the last 24h")

	// The provider pod stops being Ready: the jobs that need it are blocked.
	_, b := akashtest.Shared(t)
	require.NoError(t, b.SetReady(ctx, namespace, akashtest.ProviderPod, false))
	t.Cleanup(func() { require.NoError(t, b.SetReady(ctx, namespace, akashtest.ProviderPod, true)) })
	st = statusJSON(t, c)
	for _, name := range []string{"force-replicasets", "kill-lease-by-image", "dangling-deployments"} {
		comp := component(t, st, name)
		assert.Equal(t, janitorctl.StateBlocked, comp.State, name)
		assert.Contains(t, comp.Why, "pod akash-services/akash-provider-0 is not Ready (ContainersNotReady", name)
	}
	assert.Equal(t, janitorctl.StateActive, component(t, st, "zombie-reaper").State, "the reaper needs no provider")
	out, _, _ = kj(t, c, "status", "-n", namespace)
	assert.Contains(t, out, "Blockers:      BLOCKING: pod akash-services/akash-provider-0 is not Ready")

	yamlOut, _, code := kj(t, c, "status", "-n", namespace, "-o", "yaml")
	require.Equal(t, 0, code)
	var fromYAML janitorctl.Status
	require.NoError(t, yaml.Unmarshal([]byte(yamlOut), &fromYAML))
	assert.Equal(t, release, fromYAML.Release)
}

// run makes the Job kubectl create job --from=cronjob makes, owned by the
// CronJob, with the job's --dry-run set as asked; the CronJob controller
// counts its success.
func TestRun(t *testing.T) {
	c := installed(t)
	ctx := context.Background()

	out, _, code := kj(t, c, "run", "force-replicasets", "--dry-run", "-n", namespace)
	require.Equal(t, 0, code)
	m := regexp.MustCompile(`job\.batch/(\S+) created from cronjob/akash-janitor-force-replicasets, dry-run \(--dry-run=true\)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Contains(t, out, "Follow it: kubectl -n akash-services logs -f job/"+m[1])

	cj, err := c.Kube.BatchV1().CronJobs(namespace).Get(ctx, release+"-force-replicasets", metav1.GetOptions{})
	require.NoError(t, err)
	j, err := c.Kube.BatchV1().Jobs(namespace).Get(ctx, m[1], metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(j.Name, cj.Name+"-manual-"), j.Name)
	owner := metav1.GetControllerOf(j)
	require.NotNil(t, owner, "the CronJob owns it")
	assert.Equal(t, "CronJob", owner.Kind)
	assert.Equal(t, cj.UID, owner.UID)
	assert.Equal(t, "manual", j.Annotations["cronjob.kubernetes.io/instantiate"])
	assert.Equal(t, "force-replicasets", j.Labels["app.kubernetes.io/component"])
	args := j.Spec.Template.Spec.Containers[0].Args
	assert.Contains(t, args, "--dry-run=true")
	assert.NotContains(t, args, "--dry-run=false", "the chart's --dry-run=false is replaced, not left beside it")
	assert.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--dry-run=false", "the CronJob itself is unchanged")

	// The CronJob controller sees its Job succeed (kwok completes its pod).
	require.Eventually(t, func() bool {
		st := statusJSON(t, c)
		fr := component(t, st, "force-replicasets")
		return fr.LastSuccess != nil && fr.NewestJob != nil && fr.NewestJob.Result == "succeeded"
	}, 90*time.Second, time.Second, "force-replicasets shows a last success")

	// By the CronJob's name, without --dry-run: as the CronJob runs it.
	out, _, code = kj(t, c, "run", release+"-dangling-deployments", "-n", namespace, "--name", "dd-now")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "job.batch/dd-now created from cronjob/akash-janitor-dangling-deployments, dry-run (--dry-run=true)", "the chart runs it dry by default")
	dd, err := c.Kube.BatchV1().Jobs(namespace).Get(ctx, "dd-now", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, dd.Spec.Template.Spec.Containers[0].Args, "--dry-run=true")

	_, errOut, code := kj(t, c, "run", "nope", "-n", namespace)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `error: unknown job "nope" in release akash-janitor (namespace akash-services): want one of cert-expiry, close-stale-bids, dangling-deployments, force-replicasets, kill-lease-by-image, provider-doctor`)
	_, errOut, code = kj(t, c, "run", "zombie-reaper", "-n", namespace)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "zombie-reaper is a DaemonSet (akash-services/akash-janitor-zombie-reaper), not a CronJob")
	_, errOut, code = kj(t, c, "run", "-n", namespace)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "accepts 1 arg(s), received 0")
}

// pause makes the switch the jobs read: the real force-replicasets,
// started with its CronJob's arguments and environment, holds every action
// with the reason given; resume removes it and the job acts again.
func TestPauseResume(t *testing.T) {
	c := installed(t)
	ctx := context.Background()

	_, errOut, code := kj(t, c, "pause", "-n", namespace)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `error: required flag(s) "reason" not set`)

	out, _, code := kj(t, c, "pause", "-n", namespace, "--reason", "node maintenance until 14:00")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `Paused: ConfigMap akash-services/akash-janitor-pause created (reason "node maintenance until 14:00", by sim-admin at `)
	assert.Contains(t, out, "Held from their next run: close-stale-bids, dangling-deployments, force-replicasets, kill-lease-by-image, zombie-reaper.")
	t.Cleanup(func() {
		_ = c.Kube.CoreV1().ConfigMaps(namespace).Delete(ctx, "akash-janitor-pause", metav1.DeleteOptions{})
	})
	cm, err := c.Kube.CoreV1().ConfigMaps(namespace).Get(ctx, "akash-janitor-pause", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "node maintenance until 14:00", cm.Data[job.PauseReason])
	assert.Equal(t, "sim-admin", cm.Data[janitorctl.PausedBy])

	r := runCronJobBinary(t, c, "force-replicasets")
	require.Equal(t, 0, r.Code, r.Raw)
	held := r.Message("held: every action is held, nothing is changed")
	require.NotNil(t, held, "the job reads the switch pause made:\n%s", r.Raw)
	assert.Equal(t, "paused: ConfigMap akash-services/akash-janitor-pause is there (node maintenance until 14:00); delete it to resume", held["reason"])

	st := statusJSON(t, c)
	for _, name := range []string{"force-replicasets", "zombie-reaper", "kill-lease-by-image", "dangling-deployments", "close-stale-bids"} {
		comp := component(t, st, name)
		assert.Equal(t, janitorctl.StatePaused, comp.State, name)
		assert.Equal(t, "ConfigMap akash-services/akash-janitor-pause is there (node maintenance until 14:00)", comp.Why, name)
	}
	for _, name := range []string{"provider-doctor", "cert-expiry", "bid-price"} {
		assert.Equal(t, janitorctl.StateActive, component(t, st, name).State, "%s changes nothing: it has no pause", name)
	}
	out, _, _ = kj(t, c, "status", "-n", namespace)
	assert.Regexp(t, `Pause:\s+PAUSED by sim-admin since \S+ \(\S+ ago\): "node maintenance until 14:00" \(ConfigMap akash-services/akash-janitor-pause\)`, out)

	// Paused again: the reason is replaced.
	out, _, code = kj(t, c, "pause", "-n", namespace, "--reason", "etcd upgrade")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `Already paused since `)
	assert.Contains(t, out, `by sim-admin ("node maintenance until 14:00"); reason now "etcd upgrade"`)

	out, _, code = kj(t, c, "resume", "-n", namespace)
	require.Equal(t, 0, code)
	assert.Contains(t, out, `Resumed: ConfigMap akash-services/akash-janitor-pause deleted, paused since `)
	assert.Contains(t, out, `by sim-admin, reason "etcd upgrade".`)
	_, err = c.Kube.CoreV1().ConfigMaps(namespace).Get(ctx, "akash-janitor-pause", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "resume removes the switch: the jobs pause while it exists, whatever it holds")

	r = runCronJobBinary(t, c, "force-replicasets")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Nil(t, r.Message("held: every action is held, nothing is changed"), "resumed, the job acts:\n%s", r.Raw)

	out, _, code = kj(t, c, "resume", "-n", namespace)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "Not paused: there is no ConfigMap akash-services/akash-janitor-pause.")
}

// runCronJobBinary runs the job binary of a component with its CronJob's
// arguments and environment, as its pod would run them (the namespace the
// chart gives from the pod's, here the CronJob's), against the cluster.
func runCronJobBinary(t *testing.T, c *kubetest.Cluster, component string) jobtest.Result {
	t.Helper()
	cj, err := c.Kube.BatchV1().CronJobs(namespace).Get(context.Background(), release+"-"+component, metav1.GetOptions{})
	require.NoError(t, err)
	ctr := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	cmd := exec.Command(jobtest.Build(t, "github.com/akash-janitor/akash-janitor/jobs/"+component), append(append([]string{}, ctr.Args...), "--kubeconfig", c.KubeconfigPath)...)
	cmd.Env = os.Environ()
	for _, e := range ctr.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			v = cj.Namespace
		}
		cmd.Env = append(cmd.Env, e.Name+"="+v)
	}
	return jobtest.RunCmd(t, cmd)
}

// report lists the Events the jobs recorded through lib/actuator: what,
// on which object and lease, the outcome and reason, within --since.
func TestReport(t *testing.T) {
	c := installed(t)
	ctx := context.Background()
	_, b := akashtest.Shared(t)
	live := akashtest.LeaseID(11)
	gone := akashtest.LeaseID(12) // torn down: its namespace and Manifest are gone
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: live, Services: []akashtest.Service{{Name: "web", Image: "nginx:1.27", CPU: "100m", Memory: "64Mi", Count: 1}}}))

	now := time.Now()
	record := func(jobName string, at time.Time) *actuator.Actuator {
		return actuator.New(actuator.Options{MaxActions: 10, Log: zerolog.Nop(), Events: &actuator.KubeEvents{
			Client: c.Kube.EventsV1(), Controller: "akash-janitor.akash.network/" + jobName, Instance: jobName + "-test",
			Now: func() time.Time { return at },
		}})
	}
	ns := func(id string) actuator.Ref { return actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id} }
	done := func(context.Context, actuator.Action) error { return nil }
	refused := func(context.Context, actuator.Action) error {
		return errors.New("the chain refused: account sequence mismatch")
	}

	require.NoError(t, record("dangling-deployments", now.Add(-1*time.Hour)).Apply(ctx, []actuator.Action{{
		Verb: "teardown-lease", Target: ns(live.Namespace()), Lease: live.String(), Reason: "LeaseClosedOnChain",
		Message: "closed on chain 2h ago: tearing down what the cluster holds of it"}}, done))
	require.Error(t, record("kill-lease-by-image", now.Add(-2*time.Hour)).Apply(ctx, []actuator.Action{{
		Verb: "close-lease", Target: ns(gone.Namespace()), Lease: gone.String(), Reason: "DeniedImage",
		Message: "closing the lease: image packetstream/psclient:latest is denied"}}, refused))
	record("provider-doctor", now.Add(-3*time.Hour)).Report(ctx, []actuator.Action{{
		Verb: "gpu-not-allocatable", Target: ns(live.Namespace()), Reason: "GPUNotAllocatable", Message: "labelled with 2 GPUs, none allocatable"}})
	require.NoError(t, record("force-replicasets", now.Add(-30*time.Hour)).Apply(ctx, []actuator.Action{{
		Verb: "delete-replicaset", Target: actuator.Ref{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: live.Namespace(), Name: "web-old"},
		Regarding: &actuator.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: live.Namespace(), Name: "web"},
		Reason:    "RolloutStuck", Message: "the new pod cannot be scheduled: Insufficient cpu"}}, done))

	out, _, code := kj(t, c, "report")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, "a header and the three actions of the last 24 hours:\n%s", out)
	assert.Equal(t, []string{"TIME", "JOB", "ACTION", "OBJECT", "LEASE", "OUTCOME", "REASON"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{now.Add(-3 * time.Hour).UTC().Format(time.RFC3339), "provider-doctor", "gpu-not-allocatable", "Namespace/" + live.Namespace(), live.String(), "found", "GPUNotAllocatable"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{now.Add(-2 * time.Hour).UTC().Format(time.RFC3339), "kill-lease-by-image", "close-lease", "Namespace/" + gone.Namespace(), gone.String(), "failed", "DeniedImage"}, strings.Fields(lines[2]),
		"a lease torn down has no labels left: its ID comes from the Event's lease annotation")
	assert.Equal(t, []string{now.Add(-1 * time.Hour).UTC().Format(time.RFC3339), "dangling-deployments", "teardown-lease", "Namespace/" + live.Namespace(), live.String(), "done", "LeaseClosedOnChain"}, strings.Fields(lines[3]))

	out, _, code = kj(t, c, "report", "--since", "48h")
	require.Equal(t, 0, code)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 5, out)
	assert.Regexp(t, `force-replicasets\s+delete-replicaset`, out)
	assert.Contains(t, out, "Deployment/"+live.Namespace()+"/web")

	out, _, code = kj(t, c, "report", "--since", "90m", "-o", "json")
	require.Equal(t, 0, code)
	var rep janitorctl.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Items, 1)
	it := rep.Items[0]
	assert.Equal(t, "dangling-deployments", it.Job)
	assert.Equal(t, "teardown-lease", it.Action)
	assert.Equal(t, live.String(), it.Lease)
	assert.Equal(t, janitorctl.OutcomeDone, it.Outcome)
	assert.Equal(t, "Normal", it.Type)
	assert.Equal(t, "closed on chain 2h ago: tearing down what the cluster holds of it", it.Note)
	assert.Equal(t, "dangling-deployments-test", it.Instance)

	out, _, code = kj(t, c, "report", "--job", "kill-lease-by-image", "-o", "yaml")
	require.Equal(t, 0, code)
	require.NoError(t, yaml.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Items, 1)
	assert.Equal(t, janitorctl.OutcomeFailed, rep.Items[0].Outcome)
	assert.Equal(t, "Warning", rep.Items[0].Type)
	assert.Contains(t, rep.Items[0].Note, "; failed: the chain refused: account sequence mismatch")

	out, _, code = kj(t, c, "report", "-o", "wide", "--job", "provider-doctor")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "labelled with 2 GPUs, none allocatable")

	_, errOut, code := kj(t, c, "report", "--job", "close-lease", "--since", "1m")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "No close-lease Events since ")
	_, errOut, code = kj(t, c, "report", "-o", "table")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `error: --output="table": want one of ["" "wide" "json" "yaml"]`)
}

// The release is found by the chart's labels; none, several, or one not
// there is an error that names the namespace and what it holds.
func TestReleaseSelection(t *testing.T) {
	c := installed(t)
	ctx := context.Background()

	_, errOut, code := kj(t, c, "status")
	assert.Equal(t, 2, code)
	assert.Equal(t, "error: no akash-janitor release found in namespace default (the chart installs in akash-services: -n akash-services)\n", errOut,
		"no -n and no namespace in the kubeconfig context: default, as kubectl")

	const two = "two-releases"
	for _, name := range []string{"alpha", "beta"} {
		require.NoError(t, helmInstall(t, c, name, two, map[string]any{"global": map[string]any{"part": "node", "pauseNamespace": two}}))
	}
	_, errOut, code = kj(t, c, "status", "-n", two)
	assert.Equal(t, 2, code)
	assert.Equal(t, "error: several akash-janitor releases in namespace two-releases: alpha, beta; choose one with --release\n", errOut)
	_, errOut, code = kj(t, c, "pause", "-n", two, "--reason", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "several akash-janitor releases in namespace two-releases: alpha, beta")
	_, errOut, code = kj(t, c, "status", "-n", two, "--release", "gamma")
	assert.Equal(t, 2, code)
	assert.Equal(t, "error: release \"gamma\" not found in namespace two-releases; its akash-janitor releases: alpha, beta\n", errOut)

	out, _, code := kj(t, c, "status", "-n", two, "--release", "alpha")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "Release alpha in namespace two-releases")
	assert.Equal(t, "CronJob", row(t, out, "cert-expiry")[1])
	assert.Equal(t, "DaemonSet", row(t, out, "zombie-reaper")[1])
	assert.NotContains(t, out, "force-replicasets", "a node release runs the node's components only")
	assert.Contains(t, out, "Close budget:  none")
	assert.Contains(t, out, "Admission:     off")

	_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "no-janitor"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, errOut, code = kj(t, c, "run", "force-replicasets", "-n", "no-janitor")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no akash-janitor release found in namespace no-janitor")
	jobs, err := c.Kube.BatchV1().Jobs("no-janitor").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, jobs.Items, "nothing is made on bad input")

}
