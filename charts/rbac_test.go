package charts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(
		kubetest.Node{Name: "small", CPU: "2", Memory: "8Gi", Labels: map[string]string{"janitor.test/pool": "small"}},
		// Its own node for the restore-command scenario: each scenario's
		// pods are pinned to their node, so they never take each other's room.
		kubetest.Node{Name: "restore", CPU: "2", Memory: "8Gi", Labels: map[string]string{"janitor.test/pool": "restore"}},
	))
}

// applyRBAC creates the chart's ServiceAccounts, roles, bindings and ConfigMaps.
func applyRBAC(t *testing.T, c *kubetest.Cluster, objs map[string]*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, u := range objs {
		gvr := map[string]struct{ group, version, resource string }{
			"ServiceAccount":     {"", "v1", "serviceaccounts"},
			"ConfigMap":          {"", "v1", "configmaps"},
			"ClusterRole":        {"rbac.authorization.k8s.io", "v1", "clusterroles"},
			"ClusterRoleBinding": {"rbac.authorization.k8s.io", "v1", "clusterrolebindings"},
			"Role":               {"rbac.authorization.k8s.io", "v1", "roles"},
			"RoleBinding":        {"rbac.authorization.k8s.io", "v1", "rolebindings"},
		}[u.GetKind()]
		if gvr.resource == "" {
			continue
		}
		var res dynamic.ResourceInterface = c.Dynamic().Resource(schema.GroupVersionResource{Group: gvr.group, Version: gvr.version, Resource: gvr.resource})
		if u.GetNamespace() != "" {
			res = res.(dynamic.NamespaceableResourceInterface).Namespace(u.GetNamespace())
		}
		_, err := res.Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Another test applied it, maybe rendered from other values:
			// this render's rules and data are what this test runs with.
			// A ConfigMap a job writes (a record, parameters) is left as is.
			if u.GetKind() == "ConfigMap" {
				continue
			}
			old, getErr := res.Get(ctx, u.GetName(), metav1.GetOptions{})
			require.NoError(t, getErr)
			u.SetResourceVersion(old.GetResourceVersion())
			_, err = res.Update(ctx, u, metav1.UpdateOptions{})
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
	// The job acts only while the provider pod is Ready, and reads it
	// with the chart's RBAC (global.blockers.providerPod).
	require.NoError(t, b.ProviderPod(ctx))
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	sa := "akash-janitor-force-replicasets"
	kubeconfig := impersonating(t, c, "akash-services", sa)

	// A stuck update: 1.5 CPU more on a 2-CPU node.
	id := akashtest.LeaseID(7)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Strategy: akashtest.SurgeStrategy(),
		Services: []akashtest.Service{{Name: "web", Image: "nginx:1", CPU: "1500m", Count: 1, NodeSelector: map[string]string{"janitor.test/pool": "small"}}}}))
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)
	require.NoError(t, b.SetImage(ctx, id, "web", "nginx:2"))
	require.Eventually(t, func() bool {
		msgs, err := akashtest.Unschedulable(ctx, c.Kube, id.Namespace())
		return err == nil && len(msgs) > 0
	}, time.Minute, 200*time.Millisecond)

	// The pause switch, as the chart sets it, is readable with that RBAC:
	// while the ConfigMap is there the job holds its action.
	bin := jobtest.Build(t, "../jobs/force-replicasets")
	pause := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-pause", Namespace: "akash-services"}, Data: map[string]string{"reason": "upgrade"}}
	_, err = c.Kube.CoreV1().ConfigMaps("akash-services").Create(ctx, pause, metav1.CreateOptions{})
	require.NoError(t, err)
	paused := exec.Command(bin, "--kubeconfig", kubeconfig, "--min-stuck=0s")
	paused.Env = append(os.Environ(), "JANITOR_PAUSE_NAMESPACE=akash-services", "JANITOR_PAUSE_CONFIGMAP=akash-janitor-pause")
	out, err := paused.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "ConfigMap akash-services/akash-janitor-pause is there (upgrade)", "read, not refused")
	assert.NotContains(t, string(out), `"outcome":"done"`)
	require.NoError(t, c.Kube.CoreV1().ConfigMaps("akash-services").Delete(ctx, pause.Name, metav1.DeleteOptions{}))

	// The job, as its ServiceAccount, does its work (the switch absent).
	run := exec.Command(bin, "--kubeconfig", kubeconfig, "--min-stuck=0s")
	run.Env = paused.Env
	out, err = run.CombinedOutput()
	require.NoError(t, err, "the job must succeed with the chart's RBAC alone:\n%s", out)
	assert.Contains(t, string(out), `"outcome":"done"`)
	assert.NotContains(t, string(out), "could not record the Kubernetes Event", "Events are allowed")
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)

	// And nothing outside its job.
	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"delete a Namespace":           as.CoreV1().Namespaces().Delete(ctx, id.Namespace(), metav1.DeleteOptions{}),
		"delete a Deployment":          as.AppsV1().Deployments(id.Namespace()).Delete(ctx, "web", metav1.DeleteOptions{}),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list Secrets":                 get(as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})),
		"delete a Pod":                 as.CoreV1().Pods(id.Namespace()).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"patch a Deployment":           get(as.AppsV1().Deployments(id.Namespace()).Patch(ctx, "web", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
		"read another ConfigMap":       get(as.CoreV1().ConfigMaps("akash-services").Get(ctx, "akash-janitor-bid-price", metav1.GetOptions{})),
		"create the pause ConfigMap":   get(as.CoreV1().ConfigMaps("akash-services").Create(ctx, pause, metav1.CreateOptions{})),
	}
	assertForbidden(t, forbidden)
}

func get[T any](_ T, err error) error { return err }

// as is a client acting as the ServiceAccount of the kubeconfig.
func as(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	client, err := kubernetes.NewForConfig(config(t, kubeconfig))
	require.NoError(t, err)
	return client
}

// asDynamic is as, for custom resources.
func asDynamic(t *testing.T, kubeconfig string) dynamic.Interface {
	t.Helper()
	client, err := dynamic.NewForConfig(config(t, kubeconfig))
	require.NoError(t, err)
	return client
}

func config(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	return cfg
}

// assertForbidden checks that each request was refused for its RBAC.
func assertForbidden(t *testing.T, results map[string]error) {
	t.Helper()
	for what, err := range results {
		assert.True(t, apierrors.IsForbidden(err), "%s must be Forbidden, got %v", what, err)
	}
}

// fakeProc writes a process table in the layout of /proc (stat and cgroup
// files) for the reaper's --proc: a shim, a tenant's bash in the given
// pod's cgroup, and two zombies of the bash.
func fakeProc(t *testing.T, podUID string) string {
	t.Helper()
	root := t.TempDir()
	cgroup := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
		strings.ReplaceAll(podUID, "-", "_") + ".slice/cri-containerd-" + strings.Repeat("ab", 32) + ".scope\n"
	for _, p := range []struct {
		dir, comm, state string
		ppid             int
	}{
		{"1", "systemd", "S", 0}, {"self", "zombie-reaper", "R", 1}, {"100", "containerd-shim", "S", 1},
		{"102", "bash", "S", 100}, {"1001", "sshd", "Z", 102}, {"1002", "sshd", "Z", 102},
	} {
		dir := filepath.Join(root, p.dir)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		pid := p.dir
		if pid == "self" {
			pid = "4242"
		}
		stat := fmt.Sprintf("%s (%s) %s %d 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5000 0 0\n", pid, p.comm, p.state, p.ppid)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
	}
	return root
}

func TestZombieReaperRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, map[string]any{"forceReplicasets": map[string]any{"enabled": false}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-zombie-reaper")
	bin := jobtest.Build(t, "../jobs/zombie-reaper")

	// A tenant pod on node "small".
	id := akashtest.LeaseID(8)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "app", Image: "app:1", CPU: "100m", Count: 1}}}))
	var pod corev1.Pod
	require.Eventually(t, func() bool {
		pods, err := c.Kube.CoreV1().Pods(id.Namespace()).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		if len(pods.Items) == 1 && pods.Items[0].Spec.NodeName != "" {
			pod = pods.Items[0]
			return true
		}
		return false
	}, time.Minute, 200*time.Millisecond)

	// Attribution (list the node's pods, read the namespace's lease labels),
	// as its ServiceAccount, over a process table that puts a zombie parent
	// in that pod. Report-only: the PIDs are not real.
	r := jobtest.Run(t, bin, "--kubeconfig", kubeconfig, "--proc", fakeProc(t, string(pod.UID)), "--node-name", pod.Spec.NodeName,
		"--once", "--dry-run", "--min-zombie-age=0s", "--metrics-addr=")
	require.Equal(t, 0, r.Code)
	acts := r.Actions("reap-zombies")
	require.Len(t, acts, 1)
	assert.Equal(t, id.String(), acts[0]["lease"], "it read the lease from the namespace")
	assert.Equal(t, "Pod/"+id.Namespace()+"/"+pod.Name, acts[0]["object"], "it found the pod")
	assert.Empty(t, r.With("level", "warn"))

	// Events, for real processes (on the node: they are in no pod).
	tools := proctabletest.Build(t)
	tree := proctabletest.Start(t, tools.UnderShim(tools.Spawn(2, "never", false)))
	r = jobtest.Run(t, bin, "--kubeconfig", kubeconfig, "--node-name", pod.Spec.NodeName, "--within-pid", strconv.Itoa(os.Getpid()),
		"--once", "--min-zombie-age=0s", "--sigchld-wait=1s", "--sigterm-wait=1s", "--metrics-addr=")
	require.Equal(t, 0, r.Code)
	require.Len(t, r.Actions("reap-zombies"), 1)
	assert.Equal(t, "done", r.Actions("reap-zombies")[0]["outcome"])
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event", "Events are allowed")
	assert.False(t, proctabletest.Alive(t, tree.Parent))

	// And nothing outside its job.
	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"delete a Pod":                 as.CoreV1().Pods(id.Namespace()).Delete(ctx, pod.Name, metav1.DeleteOptions{}),
		"delete a Namespace":           as.CoreV1().Namespaces().Delete(ctx, id.Namespace(), metav1.DeleteOptions{}),
		"list Namespaces":              get(as.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list Secrets":                 get(as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})),
		"exec into a Pod":              as.CoreV1().RESTClient().Post().Resource("pods").Namespace(id.Namespace()).Name(pod.Name).SubResource("exec").Do(ctx).Error(),
		"patch a Node":                 get(as.CoreV1().Nodes().Patch(ctx, pod.Spec.NodeName, "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
	}
	assertForbidden(t, forbidden)
}

// ensureSecret creates the provider key Secret the jobs must never read.
func ensureSecret(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	_, err := c.Kube.CoreV1().Secrets("akash-services").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "akash-provider-keys"}, StringData: map[string]string{"key.txt": "secret"},
	}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// TestBidPriceServesWithItsOwnRBACThroughTheShim: the chart's ConfigMap and
// RBAC, `bid-price serve` as its ServiceAccount, and the chart's shim
// script (what akash-provider runs) asking it, with curl, as the provider
// would.
func TestBidPriceServesWithItsOwnRBACThroughTheShim(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, map[string]any{"forceReplicasets": map[string]any{"enabled": false}, "zombieReaper": map[string]any{"enabled": false},
		"bidPrice": map[string]any{"enabled": true, "gpuPriceMappings": map[string]any{"a100": "900", "t4": "80"}, "aktPrice": map[string]any{"static": "2.5"}}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-bid-price")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cmd := exec.Command(jobtest.Build(t, "../jobs/bid-price"), "serve", "--kubeconfig", kubeconfig, "--namespace", "akash-services",
		"--configmap", "akash-janitor-bid-price", "--listen", addr)
	logFile := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logFile)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b, _ := os.ReadFile(logFile)
		t.Logf("bid-price serve, as its ServiceAccount:\n%s", b)
		assert.NotContains(t, string(b), "forbidden", "its RBAC is enough: ConfigMap watched, nodes listed")
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 100*time.Millisecond, "it read its ConfigMap as its ServiceAccount")

	script := objs["ConfigMap/akash-janitor-bid-price-script"].Object["data"].(map[string]any)["price-script.sh"].(string)
	require.Contains(t, script, "http://akash-janitor-bid-price.akash-services.svc.cluster.local:8080/v1/price")
	script = strings.ReplaceAll(script, "akash-janitor-bid-price.akash-services.svc.cluster.local:8080", addr)
	shim := func(order string) (string, string, int) {
		sh := exec.Command("sh", "-c", script)
		sh.Env = append(os.Environ(), "AKASH_OWNER=akash1tenant")
		sh.Stdin = strings.NewReader(order)
		return jobtest.Output(t, sh)
	}
	order := `{"price":{"denom":"uakt","amount":"%s"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"t4"}}}}}]}`
	stdout, stderr, code := shim(fmt.Sprintf(order, "1000"))
	require.Equal(t, 0, code, stderr)
	// ($2.42 + $80) a month / 2.5 USD per AKT * 10^6 / 429909 blocks.
	assert.Equal(t, "76.685996", stdout)
	stdout, stderr, code = shim(fmt.Sprintf(order, "1"))
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout, "a refusal prints no price")
	assert.Equal(t, "requested rate is too low. min expected 76.685996uakt", stderr)

	// And nothing outside its job.
	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"read another ConfigMap":       get(as.CoreV1().ConfigMaps("akash-services").Get(ctx, "akash-janitor-bid-price-script", metav1.GetOptions{})),
		"change its own ConfigMap":     get(as.CoreV1().ConfigMaps("akash-services").Patch(ctx, "akash-janitor-bid-price", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
		"list every ConfigMap":         get(as.CoreV1().ConfigMaps("akash-services").List(ctx, metav1.ListOptions{})),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list pods":                    get(as.CoreV1().Pods("").List(ctx, metav1.ListOptions{})),
		"patch a node":                 get(as.CoreV1().Nodes().Patch(ctx, "small", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
	}
	assertForbidden(t, forbidden)
}

func TestProviderDoctorRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-provider-doctor")

	// A GPU pod no node can take: a finding, so an Event to write.
	_, err = c.Kube.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "wants-a-gpu"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "cuda:12", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/provider-doctor"), "--kubeconfig", kubeconfig, "--min-pending=0s")
	require.Equal(t, 0, r.Code)
	assert.Len(t, r.With("finding", "gpu-pod-pending"), 1)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")

	// With the provider named, the provider checks list the StorageClasses
	// too: the chart grants that, and only then.
	assert.NotContains(t, objs["ClusterRole/akash-janitor-provider-doctor"].Object["rules"], map[string]any{"apiGroups": []any{"storage.k8s.io"},
		"resources": []any{"storageclasses"}, "verbs": []any{"list"}})
	ch := chaintest.New()
	url := ch.Start(t).URL
	const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	ch.SetProvider(provider, "https://127.0.0.1:1", chain.Attribute{Key: "capabilities/storage/1/class", Value: "beta9"})
	objs, _, err = render(t, map[string]any{"provider": map[string]any{"address": provider, "chain": map[string]any{"rest": []any{url}}}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	r = jobtest.Run(t, jobtest.Build(t, "../jobs/provider-doctor"), "--kubeconfig", kubeconfig, "--chain-rest", url, "--provider", provider, "--check-endpoint=false")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Len(t, r.With("reason", "StorageClassMissing"), 1, r.Raw)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")

	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"delete a Pod":                 as.CoreV1().Pods("default").Delete(ctx, "wants-a-gpu", metav1.DeleteOptions{}),
		"patch a Node":                 get(as.CoreV1().Nodes().Patch(ctx, "small", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{})),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list Secrets":                 get(as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})),
	}
	assertForbidden(t, forbidden)
}

func TestRestoreCommandRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, map[string]any{"restoreCommand": map[string]any{"enabled": true}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-restore-command")

	// An older provider's surge-first Deployment loses its command (see
	// jobs/restore-command for the scenario in full).
	id := akashtest.LeaseID(9)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Strategy: akashtest.SurgeStrategy(), Services: []akashtest.Service{
		{Name: "app", Image: "tenant/app:1", Command: []string{"sh", "-c"}, CPU: "1500m", NodeSelector: map[string]string{"janitor.test/pool": "restore"}}}}))
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(ctx, "app", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace("lease").Patch(ctx, id.Namespace(), types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/group/services/0/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	_, err = c.Kube.AppsV1().Deployments(id.Namespace()).Patch(ctx, "app", types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/template/spec/containers/0/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		msgs, err := akashtest.Unschedulable(ctx, c.Kube, id.Namespace())
		return err == nil && len(msgs) > 0
	}, time.Minute, 200*time.Millisecond)

	require.NoError(t, b.ProviderPod(ctx))
	// The restart's record as the chart makes it, fresh: a run of another
	// test may have restarted the provider within the hour.
	_, err = c.Kube.CoreV1().ConfigMaps("akash-services").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-provider-restart", Namespace: "akash-services"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	args := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-restore-command"]).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/restore-command"), append(withoutDryRun(args), "--kubeconfig", kubeconfig, "--min-stuck=0s")...)
	require.Equal(t, 0, r.Code, "observe, back up, patch, restart and record with the chart's RBAC alone")
	require.Len(t, r.Actions("restore-command"), 1)
	assert.Equal(t, "done", r.Actions("restore-command")[0]["outcome"])
	require.Len(t, r.Actions("backup-manifests"), 1)
	assert.Equal(t, "done", r.Actions("backup-manifests")[0]["outcome"], "a Secret created")
	require.Len(t, r.Actions("restart-provider"), 1)
	assert.Equal(t, "done", r.Actions("restart-provider")[0]["outcome"])
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")

	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"delete a Manifest":             as.RESTClient().Delete().AbsPath("/apis/akash.network/v2beta2/namespaces/lease/manifests/" + id.Namespace()).Do(ctx).Error(),
		"patch a Deployment":            get(as.AppsV1().Deployments(id.Namespace()).Patch(ctx, "app", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})),
		"read a ConfigMap":              get(as.CoreV1().ConfigMaps("akash-services").List(ctx, metav1.ListOptions{})),
		"read the provider key Secret":  get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"list the Secrets, backups too": get(as.CoreV1().Secrets("akash-services").List(ctx, metav1.ListOptions{})),
		"delete a Pod":                  as.CoreV1().Pods(id.Namespace()).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"delete another pod there":      as.CoreV1().Pods("akash-services").Delete(ctx, "akash-janitor-other", metav1.DeleteOptions{}),
		"create a ConfigMap":            get(as.CoreV1().ConfigMaps("akash-services").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})),
	}
	assertForbidden(t, forbidden)
}

// withoutDryRun is a component's args without the chart's --dry-run, for a
// test that runs it for real with the chart's other flags.
func withoutDryRun(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--dry-run") {
			out = append(out, a)
		}
	}
	return out
}

func TestCertExpiryRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-cert-expiry")

	// A node's /etc/kubernetes/pki with a certificate expiring in 10 days.
	root := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc/kubernetes/pki"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/apiserver.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))

	r := jobtest.Run(t, jobtest.Build(t, "../jobs/cert-expiry"), "--kubeconfig", kubeconfig, "--root", root, "--node-name", "small", "--apiserver=false")
	require.Equal(t, 0, r.Code)
	require.Len(t, r.With("finding", "certificate-expiring"), 1)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event", "its Event on the node is allowed")

	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"list pods":                    get(as.CoreV1().Pods("").List(ctx, metav1.ListOptions{})),
		"list nodes":                   get(as.CoreV1().Nodes().List(ctx, metav1.ListOptions{})),
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
	}
	assertForbidden(t, forbidden)
}

func TestKillLeaseByImageRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	// The job acts only while the provider pod is Ready, and reads it
	// with the chart's RBAC (global.blockers.providerPod).
	require.NoError(t, b.ProviderPod(ctx))
	// With a denylist the chart renders the admission policy: the job
	// writes its parameters, and reads a denied lease's ReplicaSets.
	objs, _, err := render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": []any{"packetstream/psclient"}}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	crd, err := charttest.CRD(admissionparams.CRDName)
	require.NoError(t, err)
	_, err = envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crd}})
	require.NoError(t, err)
	paramsObjects := c.Dynamic().Resource(admissionparams.GVR).Namespace("akash-services")
	if err := paramsObjects.Delete(ctx, paramsName, metav1.DeleteOptions{}); err != nil {
		require.True(t, apierrors.IsNotFound(err), "%v", err)
	}
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-kill-lease-by-image")

	p := chaintest.NewProvider(t)
	ch := p.Chain
	id := akash.LeaseID{Owner: akashtest.LeaseID(20).Owner, DSeq: 20020, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "p", Image: "packetstream/psclient", CPU: "10m",
		NodeSelector: map[string]string{"janitor.test/pool": "small"}}}}))
	ch.Put(chain.Lease{ID: id, State: chain.StateActive})

	// The daily close budget as the chart sets it: its record, read and
	// updated with the chart's RBAC.
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/kill-lease-by-image"), append(append([]string{"--kubeconfig", kubeconfig}, p.Flags()...),
		"--deny", "packetstream/psclient", "--max-closes-per-day=20", "--close-budget-configmap=akash-services/akash-janitor-close-budget",
		"--admission-params=akash-services/"+paramsName)...)
	require.Equal(t, 0, r.Code, "list Manifests, close on chain, record the Event: the chart's RBAC suffices")
	l, _ := ch.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")
	assert.NotContains(t, r.Raw, "cannot read the lease's ReplicaSets")
	assert.NotContains(t, r.Raw, "cannot read the lease's Events")
	params, err := admissionparams.Read(ctx, c.Dynamic(), "akash-services", paramsName)
	require.NoError(t, err)
	assert.Equal(t, "packetstream/psclient", params["deny.0.entry"], "the admission policy's parameters, created with the chart's RBAC")
	// A changed list, written over them.
	r = jobtest.Run(t, jobtest.Build(t, "../jobs/kill-lease-by-image"), append(append([]string{"--kubeconfig", kubeconfig}, p.Flags()...),
		"--deny", "packetstream/psclient", "--deny", "honeygain/honeygain", "--max-closes-per-day=20", "--close-budget-configmap=akash-services/akash-janitor-close-budget",
		"--admission-params=akash-services/"+paramsName)...)
	require.Equal(t, 0, r.Code, "update the parameters: the chart's RBAC suffices")
	require.NotNil(t, r.Message("the admission policy's parameters are written from the lists"))
	params, err = admissionparams.Read(ctx, c.Dynamic(), "akash-services", paramsName)
	require.NoError(t, err)
	assert.Equal(t, "honeygain/honeygain", params["deny.1.entry"])

	as, asDyn := as(t, kubeconfig), asDynamic(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"delete a Namespace":           as.CoreV1().Namespaces().Delete(ctx, id.Namespace(), metav1.DeleteOptions{}),
		"delete a Manifest":            as.RESTClient().Delete().AbsPath("/apis/akash.network/v2beta2/namespaces/lease/manifests/" + id.Namespace()).Do(ctx).Error(),
		"exec into a pod":              as.CoreV1().RESTClient().Post().Resource("pods").Namespace("akash-services").Name("akash-provider-0").SubResource("exec").Do(ctx).Error(),
		"read a pod":                   get(as.CoreV1().Pods(id.Namespace()).Get(ctx, "x", metav1.GetOptions{})),
		"read a pod's logs":            as.CoreV1().Pods(id.Namespace()).GetLogs("x", &corev1.PodLogOptions{}).Do(ctx).Error(),
		"delete a pod":                 as.CoreV1().Pods(id.Namespace()).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		"write another ConfigMap":      get(as.CoreV1().ConfigMaps("akash-services").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-kill-lease-by-image", Namespace: "akash-services"}}, metav1.UpdateOptions{})),
		"change the admission policy":  as.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, "akash-janitor-denied-images", metav1.DeleteOptions{}),
		"list the ImageDenylists":      get(asDyn.Resource(admissionparams.GVR).Namespace("akash-services").List(ctx, metav1.ListOptions{})),
		"read another ImageDenylist":   get(asDyn.Resource(admissionparams.GVR).Namespace("akash-services").Get(ctx, "another", metav1.GetOptions{})),
		"delete its ImageDenylist":     asDyn.Resource(admissionparams.GVR).Namespace("akash-services").Delete(ctx, paramsName, metav1.DeleteOptions{}),
		"create an ImageDenylist in a tenant namespace": get(asDyn.Resource(admissionparams.GVR).Namespace(id.Namespace()).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": admissionparams.APIVersion, "kind": admissionparams.Kind, "metadata": map[string]any{"name": "x"}}}, metav1.CreateOptions{})),
	}
	assertForbidden(t, forbidden)
}

func TestDanglingDeploymentsRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	// The job acts only while the provider pod is Ready, and reads it
	// with the chart's RBAC (global.blockers.providerPod).
	require.NoError(t, b.ProviderPod(ctx))
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-dangling-deployments")

	provider := "akash1938lujwstgg3tlwdeal4tddkdhka4z6sgluwvd"
	id := akash.LeaseID{Owner: akashtest.LeaseID(30).Owner, DSeq: 30030, GSeq: 1, OSeq: 1, Provider: provider}
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Hostnames: []string{"dangling.example.com"}, LeasedIPs: []int32{443},
		Services: []akashtest.Service{{Name: "web", Image: "nginx", CPU: "10m", NodeSelector: map[string]string{"janitor.test/pool": "small"}}}}))
	ch := chaintest.New()
	ch.Put(chain.Lease{ID: id, State: chain.StateClosed, ClosedOn: ch.Height - 1000})

	pod, err := c.Kube.CoreV1().Pods("akash-services").Get(ctx, "akash-provider-0", metav1.GetOptions{})
	require.NoError(t, err)
	// The chart's record of the restart, fresh: another run of this test
	// on the same cluster would find the cool-down running.
	_, err = c.Kube.CoreV1().ConfigMaps("akash-services").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-provider-restart", Namespace: "akash-services"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	// No status to read: the teardown alone calls for the restart.
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/dangling-deployments"), "--kubeconfig", kubeconfig, "--chain-rest", ch.Start(t).URL,
		"--provider", provider, "--provider-status-url=", "--restart-record-configmap=akash-services/akash-janitor-provider-restart")
	require.Equal(t, 0, r.Code, "observe, tear down and restart the provider with the chart's RBAC alone")
	require.Len(t, r.Actions("teardown-lease"), 1)
	assert.Equal(t, "done", r.Actions("teardown-lease")[0]["outcome"])
	require.Len(t, r.Actions("restart-provider"), 1)
	assert.Equal(t, "done", r.Actions("restart-provider")[0]["outcome"])
	require.NoError(t, b.ProviderPod(ctx))
	restarted, err := c.Kube.CoreV1().Pods("akash-services").Get(ctx, "akash-provider-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, pod.UID, restarted.UID, "the provider's pod was deleted and started again")
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace("lease").Get(ctx, id.Namespace(), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the Manifest is gone")
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")

	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"read the provider key Secret": get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"delete a Deployment":          as.AppsV1().Deployments("akash-services").Delete(ctx, "akash-provider", metav1.DeleteOptions{}),
		"delete a ConfigMap":           as.CoreV1().ConfigMaps("akash-services").Delete(ctx, "x", metav1.DeleteOptions{}),
		"delete its restart record":    as.CoreV1().ConfigMaps("akash-services").Delete(ctx, "akash-janitor-provider-restart", metav1.DeleteOptions{}),
		"delete another pod there":     as.CoreV1().Pods("akash-services").Delete(ctx, "akash-janitor-other", metav1.DeleteOptions{}),
		"delete the provider's pods":   as.CoreV1().Pods("akash-services").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=akash-provider"}),
		"patch a namespace":            get(as.CoreV1().Namespaces().Patch(ctx, "akash-services", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})),
	}
	assertForbidden(t, forbidden)
}

// provider.closer=exec: the job closes through the provider pod with the
// chart's exec Role, and may exec into no other pod.
func TestKillLeaseByImageExecCloserWithItsOwnRBACAndNoMore(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, map[string]any{"provider": map[string]any{"closer": "exec", "address": "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"}})
	require.NoError(t, err)
	applyRBAC(t, c, objs)
	name := "akash-janitor-kill-lease-by-image"
	kubeconfig := impersonating(t, c, "akash-services", name)
	args := typed[batchv1.CronJob](t, objs["CronJob/"+name]).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args

	p := chaintest.NewProvider(t)
	cli := chaintest.BuildCLI(t)
	require.NoError(t, b.ProviderPod(ctx))
	require.NoError(t, c.AllowExec(ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", p.PodEnv(t, cli)))
	id := akash.LeaseID{Owner: akashtest.LeaseID(21).Owner, DSeq: 20021, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "p", Image: "packetstream/psclient", CPU: "10m",
		NodeSelector: map[string]string{"janitor.test/pool": "small"}}}}))
	p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive})

	// The chart's closer flags, with the test's CLI path and chain.
	run := []string{"--kubeconfig", kubeconfig, "--chain-rest", p.URL, "--provider", p.Key.Address, "--deny", "packetstream/psclient", "--cli", cli}
	for _, a := range args {
		if strings.HasPrefix(a, "--closer=") || strings.HasPrefix(a, "--provider-pod=") || strings.HasPrefix(a, "--provider-container=") {
			run = append(run, a)
		}
	}
	require.Contains(t, run, "--closer=exec")
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/kill-lease-by-image"), run...)
	require.Equal(t, 0, r.Code, "list Manifests, exec into the provider pod, record the Event: the chart's RBAC suffices")
	l, _ := p.Chain.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "exec", r.Actions("close-lease")[0]["backend"])

	as := as(t, kubeconfig)
	exec := func(ns, pod string) error {
		return as.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").Do(ctx).Error()
	}
	assertForbidden(t, map[string]error{
		"exec into another pod of akash-services": exec("akash-services", "akash-provider-1"),
		"exec into a tenant pod":                  exec(id.Namespace(), "p-0"),
		"read the provider key Secret":            get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"delete the provider pod":                 as.CoreV1().Pods("akash-services").Delete(ctx, akashtest.ProviderPod, metav1.DeleteOptions{}),
	})
}

func TestCloseStaleBidsRunsWithItsOwnRBACAndNoMore(t *testing.T) {
	c, _ := akashtest.Shared(t)
	ctx := context.Background()
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	assert.NotContains(t, objs, "ClusterRole/akash-janitor-close-stale-bids", "nothing cluster-wide")
	applyRBAC(t, c, objs)
	kubeconfig := impersonating(t, c, "akash-services", "akash-janitor-close-stale-bids")

	p := chaintest.NewProvider(t)
	id := chain.BidID{Owner: akashtest.LeaseID(21).Owner, DSeq: 21021, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	p.Chain.PlaceBid(id, sdk.NewDecCoin("uakt", sdkmath.NewInt(3)), sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000)))
	p.Chain.Advance(1000)
	r := jobtest.Run(t, jobtest.Build(t, "../jobs/close-stale-bids"), append([]string{"--kubeconfig", kubeconfig,
		"--event-pod=akash-services/akash-provider-0"}, p.Flags()...)...)
	require.Equal(t, 0, r.Code, "list the bids, close one, record the Event on the provider's pod: the chart's RBAC suffices")
	b, _ := p.Chain.Bid(id)
	assert.Equal(t, chain.BidClosed, b.State)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")

	as := as(t, kubeconfig)
	ensureSecret(t, c)
	forbidden := map[string]error{
		"read the provider key Secret":   get(as.CoreV1().Secrets("akash-services").Get(ctx, "akash-provider-keys", metav1.GetOptions{})),
		"read the close budget":          get(as.CoreV1().ConfigMaps("akash-services").Get(ctx, "akash-janitor-close-budget", metav1.GetOptions{})),
		"read the provider pod":          get(as.CoreV1().Pods("akash-services").Get(ctx, "akash-provider-0", metav1.GetOptions{})),
		"list pods":                      get(as.CoreV1().Pods("").List(ctx, metav1.ListOptions{})),
		"list Manifests":                 as.RESTClient().Get().AbsPath("/apis/akash.network/v2beta2/namespaces/lease/manifests").Do(ctx).Error(),
		"record an Event in a namespace": get(as.EventsV1().Events("default").Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})),
	}
	assertForbidden(t, forbidden)
}
