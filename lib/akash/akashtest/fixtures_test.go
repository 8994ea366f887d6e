package akashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, b.Create(ctx, Lease{
		ID:        id,
		Hostnames: []string{"app.example.com"},
		LeasedIPs: []int32{443},
		Services: []Service{
			{Name: "web", Image: "nginx:1.27", Command: []string{"nginx"}, Args: []string{"-g", "daemon off;"}, Env: []string{"A=1"}, CPU: "250m", Memory: "256Mi", Count: 2, Port: 80},
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

	dep, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{akash.LabelAkash: "true", akash.LabelNamespace: ns, akash.LabelManifestService: "web"}, dep.Spec.Selector.MatchLabels)
	assert.Equal(t, "web", dep.Spec.Template.Labels[akash.LabelManifestService])
	assert.NotContains(t, dep.Labels, akash.LabelLeaseDSeq, "workloads carry no lease labels")
	assert.Equal(t, int32(0), dep.Spec.Strategy.RollingUpdate.MaxSurge.IntVal, "the provider's maxSurge 0")
	assert.Equal(t, "web", dep.Spec.Template.Spec.Containers[0].Name)
	assert.Equal(t, int32(2), *dep.Spec.Replicas)

	sts, err := c.Kube.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	require.NoError(t, err, "persistent services run as StatefulSets")
	assert.Equal(t, "db", sts.Labels[akash.LabelManifestService])

	svc, err := c.Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector)

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
	ipDseq, _, _ := unstructured.NestedString(ips.Items[0].Object, "spec", "lease_id", "dseq")
	assert.Equal(t, "1000042", ipDseq, "ProviderLeasedIP dseq is a string")
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
