package admissionparams_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.Options{}) }

const ns = "default"

// Against the real API server with the chart's own
// CustomResourceDefinition: created the first time, left alone when
// unchanged, updated when changed; and a cluster without the type is told
// apart from a missing object.
func TestWrite(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	dyn := c.Dynamic()
	lists := map[string]string{"reference": "^x$", "deny.0": "^a$", "deny.0.entry": "a"}

	// Before the chart installed the type: the write fails, saying so.
	require.NoError(t, charttest.RemoveCRD(ctx, c.Config, admissionparams.CRDName))
	_, err := admissionparams.Write(ctx, dyn, ns, "params", lists, nil)
	require.ErrorIs(t, err, admissionparams.ErrNotInstalled)
	assert.ErrorContains(t, err, "the cluster has no ImageDenylist resource (imagedenylists.akash-janitor.akash.network)")

	installCRD(t, c)
	// A namespace that is not there is no missing type.
	_, err = admissionparams.Write(ctx, dyn, "nowhere", "params", lists, nil)
	require.Error(t, err)
	assert.NotErrorIs(t, err, admissionparams.ErrNotInstalled)
	assert.ErrorContains(t, err, `namespaces "nowhere" not found`)

	got, err := admissionparams.Write(ctx, dyn, ns, "params", lists, map[string]string{"app.kubernetes.io/name": "akash-janitor"})
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Created, got)
	obj, err := dyn.Resource(admissionparams.GVR).Namespace(ns).Get(ctx, "params", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "akash-janitor", obj.GetLabels()["app.kubernetes.io/name"], "created with the labels")
	rv := obj.GetResourceVersion()
	data, err := admissionparams.Read(ctx, dyn, ns, "params")
	require.NoError(t, err)
	assert.Equal(t, lists, data)

	got, err = admissionparams.Write(ctx, dyn, ns, "params", lists, nil)
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Unchanged, got)
	obj, err = dyn.Resource(admissionparams.GVR).Namespace(ns).Get(ctx, "params", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rv, obj.GetResourceVersion(), "unchanged: not written")

	fewer := map[string]string{"reference": "^x$"}
	got, err = admissionparams.Write(ctx, dyn, ns, "params", fewer, nil)
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Updated, got)
	data, err = admissionparams.Read(ctx, dyn, ns, "params")
	require.NoError(t, err)
	assert.Equal(t, fewer, data, "keys no longer written are gone")

	got, err = admissionparams.Write(ctx, dyn, ns, "params", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Updated, got)
	data, err = admissionparams.Read(ctx, dyn, ns, "params")
	require.NoError(t, err)
	assert.Empty(t, data)
}

// Two writers at once (two runs of the job overlapping), the object not
// there yet: neither fails (each conflict and lost create is retried), and
// the object ends up holding one writer's data.
func TestWriteRacing(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	installCRD(t, c)
	dyn := c.Dynamic()
	writers := []map[string]string{
		{"reference": "^a$", "deny.0": "^a$"},
		{"reference": "^b$", "allow.0": "^b$"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(writers))
	for i, data := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20 && errs[i] == nil; n++ {
				_, errs[i] = admissionparams.Write(ctx, dyn, ns, "raced", data, nil)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	data, err := admissionparams.Read(ctx, dyn, ns, "raced")
	require.NoError(t, err)
	assert.Contains(t, writers, data)
}

// Another writer creates the object between this one's read and its
// create: the create's AlreadyExists is read again as a conflict, and the
// write updates the other's object to its own data. The real API server
// cannot be made to interleave so; the fake stands in for that moment.
func TestWriteCreatedByAnotherMeanwhile(t *testing.T) {
	ctx := context.Background()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{admissionparams.GVR: admissionparams.Kind + "List"})
	creates := 0
	dyn.PrependReactor("create", admissionparams.Resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		creates++
		if creates > 1 {
			return false, nil, nil
		}
		theirs := &unstructured.Unstructured{Object: map[string]any{"apiVersion": admissionparams.APIVersion, "kind": admissionparams.Kind,
			"metadata": map[string]any{"namespace": ns, "name": "params"}, "data": map[string]any{"reference": "^theirs$"}}}
		require.NoError(t, dyn.Tracker().Create(admissionparams.GVR, theirs, ns))
		return true, nil, apierrors.NewAlreadyExists(admissionparams.GVR.GroupResource(), "params")
	})
	ours := map[string]string{"reference": "^ours$"}
	got, err := admissionparams.Write(ctx, dyn, ns, "params", ours, nil)
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Updated, got)
	assert.Equal(t, 1, creates, "one create, then an update")
	data, err := admissionparams.Read(ctx, dyn, ns, "params")
	require.NoError(t, err)
	assert.Equal(t, ours, data)
}

func TestRefusal(t *testing.T) {
	rs := func(status corev1.ConditionStatus, msg string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{
			{Type: appsv1.ReplicaSetReplicaFailure, Status: status, Reason: "FailedCreate", Message: msg}}}}
	}
	ours := `pods "web-1-x" is forbidden: ValidatingAdmissionPolicy 'akash-janitor-denied-images' with binding 'akash-janitor-denied-images' denied request: container web: image "x/y" is denied by the kill-lease-by-image denylist entry "x/y" (akash-janitor closes the leases that run it)`
	assert.Equal(t, ours, admissionparams.Refusal(rs(corev1.ConditionTrue, ours)))
	assert.Empty(t, admissionparams.Refusal(rs(corev1.ConditionFalse, ours)), "the failure is over")
	assert.Empty(t, admissionparams.Refusal(rs(corev1.ConditionTrue, `pods "web-1-x" is forbidden: exceeded quota: compute`)), "another refusal")
	assert.Empty(t, admissionparams.Refusal(&appsv1.ReplicaSet{}))
}

func TestDataRefusesWhatIsNoMapOfStrings(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"data": map[string]any{"deny.0": int64(5)}}}
	obj.SetNamespace(ns)
	obj.SetName("odd")
	_, err := admissionparams.Data(obj)
	assert.ErrorContains(t, err, "ImageDenylist default/odd: data:")
	data, err := admissionparams.Data(&unstructured.Unstructured{Object: map[string]any{}})
	require.NoError(t, err)
	assert.Empty(t, data, "no data: empty")
}

// installCRD installs the chart's CustomResourceDefinition and waits
// until it is served.
func installCRD(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	p, err := charttest.RenderAdmissionPolicy(map[string]any{"denylist": []any{"x"}})
	require.NoError(t, err)
	_, err = envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{&p.CRD}})
	require.NoError(t, err, fmt.Sprintf("install %s", p.CRD.Name))
}
