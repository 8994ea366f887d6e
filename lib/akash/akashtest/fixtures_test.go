package akashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func clients(t *testing.T, c *kubetest.Cluster) *kube.Clients {
	cs, err := kube.NewClients(c.Config)
	require.NoError(t, err)
	return cs
}

func TestMain(m *testing.M) {
	kubetest.Main(m, ClusterOptions(kubetest.Node{Name: "worker", CPU: "8", Memory: "16Gi"}))
}

func TestCRDsAreTheProvidersSchema(t *testing.T) {
	crds, err := CRDs()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, crd := range crds {
		names[crd.Name] = true
		assert.Equal(t, "akash.network", crd.Spec.Group)
		require.Len(t, crd.Spec.Versions, 1)
		assert.Equal(t, "v2beta2", crd.Spec.Versions[0].Name)
		assert.Equal(t, "Namespaced", string(crd.Spec.Scope))
	}
	assert.Equal(t, map[string]bool{"manifests.akash.network": true, "providerhosts.akash.network": true, "providerleasedips.akash.network": true}, names)
}

func TestManifestUnknownFieldsArePruned(t *testing.T) {
	c, _ := Shared(t)
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "akash.network/v2beta2",
		"kind":       "Manifest",
		"metadata":   map[string]any{"name": "pruning", "namespace": akash.LeaseNamespace},
		"spec": map[string]any{
			"lease_id": map[string]any{"owner": "akash1o", "dseq": "5", "gseq": int64(1), "oseq": int64(1), "provider": "akash1p", "bseq": int64(3)},
			"group": map[string]any{"name": "g", "services": []any{map[string]any{
				"name": "web", "image": "nginx", "not_in_schema": "dropped",
				"params": map[string]any{"permissions": map[string]any{"read": []any{"logs"}, "write": []any{"x"}}},
			}}},
		},
	}}
	_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, u, metav1.CreateOptions{})
	require.NoError(t, err)
	got, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(ctx, "pruning", metav1.GetOptions{})
	require.NoError(t, err)
	svc := got.Object["spec"].(map[string]any)["group"].(map[string]any)["services"].([]any)[0].(map[string]any)
	assert.NotContains(t, svc, "not_in_schema", "fields outside the provider's schema are pruned")
	assert.Equal(t, "nginx", svc["image"])
	perms := svc["params"].(map[string]any)["permissions"].(map[string]any)
	assert.Contains(t, perms, "read")
	assert.NotContains(t, perms, "write", "the provider's CRD has no permissions.write")
	assert.NotContains(t, got.Object["spec"].(map[string]any)["lease_id"], "bseq")
}

func TestFixturesHaveTheProvidersShape(t *testing.T) {
	c, b := Shared(t)
	ctx := context.Background()
	id := LeaseID(42)
	creds := &akash.ServiceCredentials{Host: "registry.example.com", Username: "tenant", Password: "s3cret"}
	require.NoError(t, b.Create(ctx, Lease{
		ID:         id,
		Hostnames:  []string{"app.example.com"},
		LeasedIPs:  []int32{443},
		IPEndpoint: "myip",
		Services: []Service{
			{Name: "web", Image: "nginx:1.27", Command: []string{"nginx"}, Args: []string{"-g", "daemon off;"}, Env: []string{"A=1"}, CPU: "250m", Memory: "256Mi", Count: 2, Port: 8080,
				Expose: []Expose{{Port: 22, ExternalPort: 2222, Global: true}, {Port: 9090}}, Credentials: creds},
			{Name: "db", Image: "postgres:16", CPU: "1", Memory: "1Gi", Persistent: true},
		},
	}))
	ns := id.Namespace()

	got, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	back, err := akash.LeaseIDFromLabels(got.Labels)
	require.NoError(t, err)
	assert.Equal(t, id, back)
	assert.Equal(t, ns, got.Labels[akash.LabelNamespace])

	list, err := akash.ListManifests(ctx, clients(t, c), akash.LeaseNamespace, metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq + "=1000042"})
	require.NoError(t, err)
	require.Len(t, list.Manifests, 1)
	m := list.Manifests[0]
	assert.Equal(t, ns, m.Name)
	mid, err := m.Spec.LeaseID.LeaseID()
	require.NoError(t, err)
	assert.Equal(t, id, mid)
	require.Len(t, m.Spec.Group.Services, 2)
	web := m.Spec.Group.Services[0]
	assert.Equal(t, []string{"nginx"}, web.Command)
	assert.Equal(t, uint32(250), web.Resources.CPU.Units, "cpu in millicores")
	assert.Equal(t, "268435456", web.Resources.Memory.Size, "memory in bytes, a decimal string")
	assert.Equal(t, uint32(2), web.Count)
	assert.Equal(t, "s3cret", web.Credentials.Password, "the provider keeps credentials in the Manifest")
	var exposes []map[string]any
	for _, raw := range web.Expose {
		var e map[string]any
		require.NoError(t, json.Unmarshal(raw, &e))
		exposes = append(exposes, e)
	}
	require.Len(t, exposes, 4, "the HTTP port, 22, 9090 and the leased IP")
	assert.Equal(t, []any{"app.example.com"}, exposes[0]["hosts"])
	assert.Equal(t, "myip", exposes[3]["ip"])
	db := m.Spec.Group.Services[1]
	require.Len(t, db.Resources.Storage, 2)
	assert.Equal(t, []akash.Attribute{{Key: "class", Value: "beta2"}, {Key: "persistent", Value: "true"}}, db.Resources.Storage[1].Attributes)
	assert.JSONEq(t, `{"storage":[{"name":"data","mount":"/data","readOnly":false}]}`, string(db.Params))

	dep, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{akash.LabelAkash: "true", akash.LabelNamespace: ns, akash.LabelManifestService: "web"}, dep.Spec.Selector.MatchLabels)
	assert.Equal(t, "web", dep.Spec.Template.Labels[akash.LabelManifestService])
	assert.NotContains(t, dep.Labels, akash.LabelLeaseDSeq, "workloads carry no lease labels")
	assert.Equal(t, int32(0), dep.Spec.Strategy.RollingUpdate.MaxSurge.IntVal, "the provider's maxSurge 0")
	assert.Equal(t, "web", dep.Spec.Template.Spec.Containers[0].Name)
	assert.Equal(t, int32(2), *dep.Spec.Replicas)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "docker-creds-web"}}, dep.Spec.Template.Spec.ImagePullSecrets)
	terms := dep.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	require.Len(t, terms, 1)
	assert.Equal(t, akash.LabelAkash, terms[0].MatchExpressions[0].Key)
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "1", env["A"])
	assert.Equal(t, "1000042", env["AKASH_DEPLOYMENT_SEQUENCE"])
	assert.Equal(t, id.Owner, env["AKASH_OWNER"])

	secret, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, "docker-creds-web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeDockerConfigJson, secret.Type)
	assert.Contains(t, string(secret.Data[corev1.DockerConfigJsonKey]), "s3cret")

	sts, err := c.Kube.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	require.NoError(t, err, "persistent services run as StatefulSets")
	assert.Equal(t, "db", sts.Labels[akash.LabelManifestService])
	assert.Empty(t, sts.Spec.ServiceName, "the provider names no governing Service")
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	assert.Equal(t, "db-data", sts.Spec.VolumeClaimTemplates[0].Name)
	assert.Equal(t, int32(0), *sts.Spec.UpdateStrategy.RollingUpdate.Partition)
	// The StatefulSet's pod runs: its claim is bound, the affinity met.
	waitFor(t, func() bool {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	}, "db-0 runs")
	pvc, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "db-data-db-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase)

	svcs, err := c.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	ports := map[string][]string{}
	types := map[string]corev1.ServiceType{}
	for _, s := range svcs.Items {
		types[s.Name] = s.Spec.Type
		for _, p := range s.Spec.Ports {
			ports[s.Name] = append(ports[s.Name], fmt.Sprintf("%s:%d->%s", p.Name, p.Port, p.TargetPort.String()))
		}
	}
	assert.Equal(t, map[string][]string{
		"web":            {"0-80:80->8080", "2-9090:9090->9090"},
		"web-np":         {"1-2222:2222->22", "3-443:443->443"},
		"web-ip-443-tcp": {"web-ip-443-tcp:443->443"},
	}, ports, "the provider's Services and port names")
	assert.Equal(t, corev1.ServiceTypeNodePort, types["web-np"])
	assert.Equal(t, corev1.ServiceTypeLoadBalancer, types["web-ip-443-tcp"])
	web80, err := c.Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, web80.Spec.Selector)

	ing, err := c.Kube.NetworkingV1().Ingresses(ns).Get(ctx, "app.example.com", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "akash-ingress-class", *ing.Spec.IngressClassName)
	assert.Equal(t, "web", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	assert.Equal(t, id.Owner, ing.Labels[akash.LabelLeaseOwner])

	sel := metav1.ListOptions{LabelSelector: akash.LabelLeaseOwner + "=" + id.Owner + "," + akash.LabelLeaseDSeq + "=1000042"}
	hosts, err := c.Dynamic().Resource(akash.ProviderHostsResource).Namespace(akash.LeaseNamespace).List(ctx, sel)
	require.NoError(t, err)
	require.Len(t, hosts.Items, 1)
	assert.Equal(t, "app.example.com", hosts.Items[0].GetName())
	dseq, _, _ := unstructured.NestedInt64(hosts.Items[0].Object, "spec", "dseq")
	assert.Equal(t, int64(1000042), dseq, "ProviderHost dseq is an integer")
	ips, err := c.Dynamic().Resource(akash.ProviderLeasedIPsResource).Namespace(akash.LeaseNamespace).List(ctx, sel)
	require.NoError(t, err)
	require.Len(t, ips.Items, 1)
	assert.Equal(t, id.Owner+"-ip-myip-tcp-443", ips.Items[0].GetName(), "named <owner>-ip-<endpoint>-<proto>-<port>")
	ipDseq, _, _ := unstructured.NestedString(ips.Items[0].Object, "spec", "lease_id", "dseq")
	assert.Equal(t, "1000042", ipDseq, "ProviderLeasedIP dseq is a string")
	key, _, _ := unstructured.NestedString(ips.Items[0].Object, "spec", "sharing_key")
	lb, err := c.Kube.CoreV1().Services(ns).Get(ctx, "web-ip-443-tcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, key, lb.Annotations["metallb.universe.tf/allow-shared-ip"], "the LoadBalancer shares the endpoint's key")

	_, err = c.Kube.NetworkingV1().NetworkPolicies(ns).Get(ctx, "akash-deployment-restrictions", metav1.GetOptions{})
	require.NoError(t, err)
}

// A GPU service asks for its vendor's resource and model, in the Manifest's
// scheduler_params and the pod's affinity, for NVIDIA and AMD alike; in
// gateway-api mode a hostname is an HTTPRoute.
func TestFixtureGPUServicesAndGatewayRoutes(t *testing.T) {
	c, b := Shared(t)
	ctx := context.Background()
	gw := *b
	gw.IngressMode = IngressModeGateway
	id := LeaseID(43)
	require.NoError(t, gw.Create(ctx, Lease{ID: id, Hostnames: []string{"gpu.example.com"}, Services: []Service{
		{Name: "train", Image: "pytorch:2", GPU: 1, GPUModel: "h100"},
		{Name: "infer", Image: "rocm:6", GPU: 2, GPUVendor: "amd", GPUModel: "mi300x"},
	}}))
	ns := id.Namespace()
	list, err := akash.ListManifests(ctx, clients(t, c), akash.LeaseNamespace, metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq + "=1000043"})
	require.NoError(t, err)
	require.Len(t, list.Manifests, 1)
	svcs := list.Manifests[0].Spec.Group.Services
	assert.JSONEq(t, `{"resources":{"gpu":{"vendor":"nvidia","model":"h100"}}}`, string(svcs[0].SchedulerParams))
	assert.Equal(t, []akash.Attribute{{Key: "vendor/amd/model/mi300x", Value: "true"}}, svcs[1].Resources.GPU.Attributes)

	for name, want := range map[string]struct {
		resource corev1.ResourceName
		label    string
	}{
		"train": {"nvidia.com/gpu", "akash.network/capabilities.gpu.vendor.nvidia.model.h100"},
		"infer": {"amd.com/gpu", "akash.network/capabilities.gpu.vendor.amd.model.mi300x"},
	} {
		dep, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		limits := dep.Spec.Template.Spec.Containers[0].Resources.Limits
		assert.Contains(t, limits, want.resource, name)
		exprs := dep.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions
		require.Len(t, exprs, 2, name)
		assert.Equal(t, want.label, exprs[1].Key, name)
		assert.Equal(t, corev1.NodeSelectorOpGt, exprs[1].Operator, name)
	}

	route, err := c.Dynamic().Resource(HTTPRoutesResource).Namespace(ns).Get(ctx, "gpu.example.com", metav1.GetOptions{})
	require.NoError(t, err)
	backend, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	require.Len(t, backend, 1)
	assert.Equal(t, id.Owner, route.GetLabels()[akash.LabelLeaseOwner])
	_, err = c.Kube.NetworkingV1().Ingresses(ns).Get(ctx, "gpu.example.com", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no Ingress in gateway-api mode")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestListManifestsSkipsAndReportsBadOnes(t *testing.T) {
	c, _ := Shared(t)
	ctx := context.Background()
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "akash.network/v2beta2",
		"kind":       "Manifest",
		"metadata":   map[string]any{"name": "broken", "namespace": akash.LeaseNamespace, "labels": map[string]any{"janitor.test/list": "bad"}},
		"spec": map[string]any{
			"lease_id": map[string]any{"owner": "akash1o", "dseq": "not-a-number", "gseq": int64(1), "oseq": int64(1), "provider": "akash1p"},
		},
	}}
	_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, bad, metav1.CreateOptions{})
	require.NoError(t, err)
	good := bad.DeepCopy()
	good.SetName("fine")
	require.NoError(t, unstructured.SetNestedField(good.Object, "12", "spec", "lease_id", "dseq"))
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, good, metav1.CreateOptions{})
	require.NoError(t, err)

	list, err := akash.ListManifests(ctx, clients(t, c), akash.LeaseNamespace, metav1.ListOptions{LabelSelector: "janitor.test/list=bad"})
	require.NoError(t, err, "a bad Manifest is never fatal")
	require.Len(t, list.Manifests, 1)
	assert.Equal(t, "fine", list.Manifests[0].Name)
	require.Len(t, list.Invalid, 1)
	assert.Contains(t, list.Invalid[0].Error(), "manifest lease/broken")
	assert.Contains(t, list.Invalid[0].Error(), `dseq "not-a-number"`)
}

// EachRaw follows continue tokens to the end, page by page.
func TestEachRawReadsEveryPage(t *testing.T) {
	c, _ := Shared(t)
	ctx := context.Background()
	for i := range 5 {
		m := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "akash.network/v2beta2",
			"kind":       "Manifest",
			"metadata":   map[string]any{"name": fmt.Sprintf("paged-%d", i), "namespace": akash.LeaseNamespace, "labels": map[string]any{"janitor.test/list": "paged"}},
			"spec": map[string]any{
				"lease_id": map[string]any{"owner": "akash1o", "dseq": strconv.Itoa(500 + i), "gseq": int64(1), "oseq": int64(1), "provider": "akash1p"},
			},
		}}
		_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, m, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	cs := clients(t, c)
	var names []string
	err := kube.EachRaw(ctx, cs.REST, "/apis/akash.network/v2beta2/namespaces/lease/manifests", 2,
		metav1.ListOptions{LabelSelector: "janitor.test/list=paged"}, func(item json.RawMessage) error {
			var m akash.Manifest
			require.NoError(t, json.Unmarshal(item, &m))
			names = append(names, m.Name)
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, []string{"paged-0", "paged-1", "paged-2", "paged-3", "paged-4"}, names)

	err = kube.EachRaw(ctx, cs.REST, "/apis/akash.network/v2beta2/namespaces/lease/nothings", 2, metav1.ListOptions{}, func(json.RawMessage) error { return nil })
	require.ErrorContains(t, err, "list /apis/akash.network/v2beta2/namespaces/lease/nothings")
}
