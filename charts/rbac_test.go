package charts

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "small", CPU: "2", Memory: "8Gi"}))
}

// applyRBAC creates the chart's ServiceAccounts, ClusterRoles and bindings.
func applyRBAC(t *testing.T, c *kubetest.Cluster, objs map[string]*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, u := range objs {
		gvr := map[string]struct{ group, version, resource string }{
			"ServiceAccount":     {"", "v1", "serviceaccounts"},
			"ClusterRole":        {"rbac.authorization.k8s.io", "v1", "clusterroles"},
			"ClusterRoleBinding": {"rbac.authorization.k8s.io", "v1", "clusterrolebindings"},
		}[u.GetKind()]
		if gvr.resource == "" {
			continue
		}
		res := c.Dynamic().Resource(schema.GroupVersionResource{Group: gvr.group, Version: gvr.version, Resource: gvr.resource})
		var err error
		if u.GetNamespace() != "" {
			_, err = res.Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
		} else {
			_, err = res.Create(ctx, u, metav1.CreateOptions{})
		}
		require.NoError(t, err, "%s/%s", u.GetKind(), u.GetName())
	}
}

// impersonating writes a kubeconfig that acts as the given ServiceAccount.
func impersonating(t *testing.T, c *kubetest.Cluster, namespace, sa string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	require.NoError(t, err)
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = "system:serviceaccount:" + namespace + ":" + sa
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

func TestForceReplicasetsRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	sa := "akash-janitor-force-replicasets"
	kubeconfig := impersonating(t, c, "akash-services", sa)

	// A stuck update: 1.5 CPU more on a 2-CPU node.
	id := akashtest.LeaseID(7)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Strategy: akashtest.SurgeStrategy(),
		Services: []akashtest.Service{{Name: "web", Image: "nginx:1", CPU: "1500m", Count: 1}}}))
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)
	require.NoError(t, b.SetImage(ctx, id, "web", "nginx:2"))
	require.Eventually(t, func() bool {
		msgs, err := akashtest.Unschedulable(ctx, c.Kube, id.Namespace())
		return err == nil && len(msgs) > 0
	}, time.Minute, 200*time.Millisecond)

	// The job, as its ServiceAccount, does its work.
	bin := filepath.Join(t.TempDir(), "force-replicasets")
	out, err := exec.Command("go", "build", "-o", bin, "../jobs/force-replicasets").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "--kubeconfig", kubeconfig, "--min-stuck=0s").CombinedOutput()
	require.NoError(t, err, "the job must succeed with the chart's RBAC alone:\n%s", out)
	assert.Contains(t, string(out), `"outcome":"done"`)
	assert.NotContains(t, string(out), "could not record the Kubernetes Event", "Events are allowed")
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)

	// And nothing outside its job.
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	as, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = c.Kube.CoreV1().Secrets("akash-services").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "akash-provider-keys"}, StringData: map[string]string{"key.txt": "secret"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	forbidden := map[string]error{
		"delete a Namespace":           as.CoreV1().Namespaces().Delete(ctx, id.Namespace(), metav1.DeleteOptions{}),
		"delete a Deployment":          as.AppsV1().Deployments(id.Namespace()).Delete(ctx, "web", metav1.DeleteOptions{}),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list Secrets":                 get(as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})),
		"delete a Pod":                 as.CoreV1().Pods(id.Namespace()).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"patch a Deployment":           get(as.AppsV1().Deployments(id.Namespace()).Patch(ctx, "web", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
	}
	for what, err := range forbidden {
		assert.True(t, apierrors.IsForbidden(err), "%s must be Forbidden, got %v", what, err)
	}
}

func get[T any](_ T, err error) error { return err }
