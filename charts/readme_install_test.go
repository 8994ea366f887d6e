package charts

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/strvals"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// readmeCommands are the shell commands of README.md's first code block
// after marker, backslash continuations joined.
func readmeCommands(t *testing.T, marker string) []string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	text := string(raw)
	at := strings.Index(text, marker)
	require.GreaterOrEqual(t, at, 0, "README.md no longer says %q", marker)
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(text[at:])
	require.NotNil(t, block, "no sh block after %q", marker)
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(block[1], "\\\n", " "), "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// helmInstall is one `helm install NAME CHART -n NS --set k=v ...` line.
type helmInstall struct {
	release, namespace string
	values             map[string]any
}

func parseHelmInstall(t *testing.T, line string) helmInstall {
	t.Helper()
	f := strings.Fields(line)
	require.GreaterOrEqual(t, len(f), 4, line)
	require.Equal(t, []string{"helm", "install"}, f[:2], line)
	require.Equal(t, "charts/akash-janitor", f[3], line)
	h := helmInstall{release: f[2], values: map[string]any{}}
	for i := 4; i < len(f); i++ {
		switch f[i] {
		case "-n", "--namespace":
			i++
			h.namespace = f[i]
		case "--set":
			i++
			require.NoError(t, strvals.ParseInto(f[i], h.values), line)
		default:
			t.Fatalf("README's helm install has a flag this test does not know (%s): %s", f[i], line)
		}
	}
	require.NotEmpty(t, h.namespace, line)
	return h
}

func (h helmInstall) run(c *kubetest.Cluster, logf func(string, ...any)) error {
	settings := cli.New()
	settings.KubeConfig = c.KubeconfigPath
	settings.SetNamespace(h.namespace)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), h.namespace, "secret", logf); err != nil {
		return err
	}
	chrt, err := loader.Load(chartPath)
	if err != nil {
		return err
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = h.release, h.namespace, time.Minute
	_, err = inst.Run(chrt, h.values)
	return err
}

// The README's split install, run as written on a cluster of its own: one
// release closes leases, with one close budget; one pause switch, the one
// README's pause command makes, holds both releases; a third release that
// would close leases too is refused.
func TestREADMESplitInstall(t *testing.T) {
	ctx := context.Background()
	c, err := kubetest.Start(ctx, akashtest.ClusterOptions(kubetest.Node{Name: "n", CPU: "4", Memory: "8Gi"}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	for _, ns := range []string{"akash-services"} {
		_, err := c.Kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json",
			[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}

	var releases []helmInstall
	for _, line := range readmeCommands(t, "install those two as a second release") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "helm install "):
			h := parseHelmInstall(t, line)
			require.NoError(t, h.run(c, t.Logf), line)
			releases = append(releases, h)
		case strings.HasPrefix(line, "kubectl create namespace ") && len(f) == 4:
			_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f[3]}}, metav1.CreateOptions{})
			require.NoError(t, err, line)
		case strings.HasPrefix(line, "kubectl label namespace ") && len(f) == 5:
			k, v, _ := strings.Cut(f[4], "=")
			ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, f[3], metav1.GetOptions{})
			require.NoError(t, err, line)
			ns.Labels[k] = v
			_, err = c.Kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
			require.NoError(t, err, line)
		default:
			t.Fatalf("README's install has a command this test does not run: %s", line)
		}
	}
	require.Len(t, releases, 2, "README installs two releases")

	// One closer of each kind, one budget, in the whole cluster.
	cronJobs, err := c.Kube.BatchV1().CronJobs("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	count := map[string]int{}
	for _, cj := range cronJobs.Items {
		count[cj.Labels["app.kubernetes.io/component"]]++
	}
	assert.Equal(t, 1, count["kill-lease-by-image"], "one release closes leases by image")
	assert.Equal(t, 1, count["dangling-deployments"], "one release reconciles with the chain")
	assert.Equal(t, 1, count["cert-expiry"])
	budgets, err := c.Kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=close-budget"})
	require.NoError(t, err)
	assert.Len(t, budgets.Items, 1, "one daily close budget")
	daemonSets, err := c.Kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=zombie-reaper"})
	require.NoError(t, err)
	require.Len(t, daemonSets.Items, 1, "one zombie reaper")
	assert.Equal(t, "akash-janitor-node", daemonSets.Items[0].Namespace)

	// One switch: the ConfigMap README's pause command creates.
	var pauseNS, pauseName string
	for _, line := range readmeCommands(t, "Without helm, one command pauses them") {
		if m := regexp.MustCompile(`^kubectl -n (\S+) create configmap (\S+) `).FindStringSubmatch(line); m != nil {
			pauseNS, pauseName = m[1], m[2]
		}
	}
	require.NotEmpty(t, pauseName, "README's pause command")
	type pausable struct {
		what string
		sa   string
		ns   string
		spec corev1.PodSpec
	}
	var all []pausable
	for _, cj := range cronJobs.Items {
		all = append(all, pausable{"CronJob " + cj.Namespace + "/" + cj.Name, cj.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName, cj.Namespace, cj.Spec.JobTemplate.Spec.Template.Spec})
	}
	for _, ds := range daemonSets.Items {
		all = append(all, pausable{"DaemonSet " + ds.Namespace + "/" + ds.Name, ds.Spec.Template.Spec.ServiceAccountName, ds.Namespace, ds.Spec.Template.Spec})
	}
	switches := 0
	for _, p := range all {
		env := map[string]corev1.EnvVar{}
		for _, e := range p.spec.Containers[0].Env {
			env[e.Name] = e
		}
		name, ok := env["JANITOR_PAUSE_CONFIGMAP"]
		if !ok {
			continue
		}
		switches++
		ns := env["JANITOR_PAUSE_NAMESPACE"].Value
		if ns == "" {
			ns = p.ns // the downward API: the pod's own namespace
		}
		assert.Equal(t, pauseNS+"/"+pauseName, ns+"/"+name.Value, "%s reads the README's pause switch", p.what)
		sar, err := c.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + p.ns + ":" + p.sa,
			ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: pauseNS, Verb: "get", Resource: "configmaps", Name: pauseName,
			},
		}}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.True(t, sar.Status.Allowed, "%s may read the pause switch", p.what)
	}
	assert.GreaterOrEqual(t, switches, 3, "the pausable jobs of both releases")

	// A third release that would close leases is refused, naming the first.
	_, err = c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "another"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = helmInstall{release: "another", namespace: "another", values: map[string]any{}}.run(c, t.Logf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "release akash-janitor in namespace akash-services already runs kill-lease-by-image")
	_, err = c.Kube.BatchV1().CronJobs("another").Get(ctx, "another-akash-janitor-kill-lease-by-image", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the refused release installed no closer")

	// A node release that does not say where the switch is is refused.
	err = helmInstall{release: "node2", namespace: "another", values: map[string]any{"global": map[string]any{"part": "node"}}}.run(c, t.Logf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "global.part=node needs global.pauseNamespace")
}
