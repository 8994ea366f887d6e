package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const paramsRef = "akash-services/akash-janitor-denied-images-params"

// installPolicy applies the chart's admission policy, its binding and the
// CustomResourceDefinition of its parameters as helm would, its namespaces narrowed to the given
// lease dseqs (the package's other tests run denied images on purpose).
func installPolicy(t *testing.T, c *kubetest.Cluster, dseqs ...string) {
	t.Helper()
	p, err := charttest.RenderAdmissionPolicy(map[string]any{"denylist": []any{"packetstream/psclient"}, "dryRun": false})
	require.NoError(t, err)
	require.Equal(t, []admissionv1.ValidationAction{admissionv1.Deny}, p.Binding.Spec.ValidationActions, "the job closes: the policy refuses")
	sel := p.Policy.Spec.MatchConstraints.NamespaceSelector
	sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: akash.LabelLeaseDSeq, Operator: metav1.LabelSelectorOpIn, Values: dseqs})
	remove, err := p.Apply(context.Background(), c.Config)
	t.Cleanup(remove)
	require.NoError(t, err)
}

// A denied image never starts: the chart's policy, with the parameters the
// job writes, refuses the lease's pods, naming the entry; the next run
// closes the lease and says the image was refused at admission too. An
// allowed image in a tenant namespace starts.
func TestKillLeaseByImageAdmissionPolicy(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	p := newProvider(t)
	const denied, allowed, probe, stateful = 61, 62, 63, 64
	dseq := func(n int) string { return fmt.Sprint(5000 + n) }

	// Before the chart's CustomResourceDefinition is installed the run
	// says so and fails (the RunFailed alert), and still does its work.
	require.NoError(t, charttest.RemoveCRD(ctx, c.Config, admissionparams.CRDName))
	r := p.run(t, c, "--deny", "packetstream/psclient", "--dry-run", "--admission-params="+paramsRef)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "the admission policy's parameters, ImageDenylist "+paramsRef+" (--admission-params), cannot be created: the cluster has no ImageDenylist resource")
	require.NotNil(t, r.Summary(), "the run went on")

	installPolicy(t, c, dseq(denied), dseq(allowed), dseq(probe), dseq(stateful))
	// The first run creates the parameters from its lists; the next,
	// with the same lists, writes nothing; a changed list is written.
	r = p.run(t, c, "--deny", "packetstream/psclient", "--dry-run", "--admission-params="+paramsRef)
	require.Equal(t, 0, r.Code, r.Raw)
	require.NotNil(t, r.Message("the admission policy's parameters are created from the lists"))
	params, err := admissionparams.Read(ctx, c.Dynamic(), "akash-services", "akash-janitor-denied-images-params")
	require.NoError(t, err)
	assert.Equal(t, "packetstream/psclient", params["deny.0.entry"])
	r = p.run(t, c, "--deny", "packetstream/psclient", "--dry-run", "--admission-params="+paramsRef)
	assert.Nil(t, r.Message("the admission policy's parameters are written from the lists"), "unchanged lists: nothing written")
	assert.Nil(t, r.Message("the admission policy's parameters are created from the lists"))
	r = p.run(t, c, "--deny", "packetstream/psclient", "--deny", "honeygain/honeygain", "--dry-run", "--admission-params="+paramsRef)
	require.NotNil(t, r.Message("the admission policy's parameters are written from the lists"))
	params, err = admissionparams.Read(ctx, c.Dynamic(), "akash-services", "akash-janitor-denied-images-params")
	require.NoError(t, err)
	assert.Equal(t, "honeygain/honeygain", params["deny.1.entry"])
	r = p.run(t, c, "--deny", "packetstream/psclient", "--dry-run", "--admission-params="+paramsRef)
	require.NotNil(t, r.Message("the admission policy's parameters are written from the lists"))

	// Wait until the API server enforces them (policies and their
	// parameters reach admission through informers).
	probeNS := akash.LeaseID{Owner: akashtest.LeaseID(probe).Owner, DSeq: 5000 + probe, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: probeNS}))
	require.NoError(t, charttest.WaitRefused(ctx, c.Kube, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: probeNS.Namespace(), Name: "probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "p", Image: "packetstream/psclient"}}}}, `entry "packetstream/psclient"`, time.Minute))

	bad := p.lease(t, b, denied, "docker.io/packetstream/psclient:2")
	good := p.lease(t, b, allowed, "nginx:1.27")
	var failure string
	require.Eventually(t, func() bool {
		failure = replicaFailure(t, c, bad.Namespace())
		return failure != ""
	}, time.Minute, 200*time.Millisecond, "the denied lease's ReplicaSet never failed")
	assert.Contains(t, failure, `ValidatingAdmissionPolicy 'akash-janitor-denied-images'`)
	assert.Contains(t, failure, `container asvc: image "docker.io/packetstream/psclient:2" is denied by the kill-lease-by-image denylist entry "packetstream/psclient"`)
	pods, err := c.Kube.CoreV1().Pods(bad.Namespace()).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "the denied image never started")
	// A persistent service runs as a StatefulSet, which says so only in
	// its events.
	persistent := akash.LeaseID{Owner: akashtest.LeaseID(stateful).Owner, DSeq: 5000 + stateful, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: persistent, Services: []akashtest.Service{{Name: "db", Image: "packetstream/psclient:4", CPU: "10m", Memory: "16Mi", Persistent: true}}}))
	p.Chain.Put(chain.Lease{ID: persistent, State: chain.StateActive, CreatedAt: 10})
	require.Eventually(t, func() bool {
		events, err := c.Kube.CoreV1().Events(persistent.Namespace()).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=StatefulSet,reason=FailedCreate"})
		require.NoError(t, err)
		return len(events.Items) > 0
	}, time.Minute, 200*time.Millisecond, "the denied StatefulSet never failed")
	require.Eventually(t, func() bool {
		pods, err := c.Kube.CoreV1().Pods(good.Namespace()).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		return len(pods.Items) == 1
	}, time.Minute, 200*time.Millisecond, "the allowed image starts")

	// The next run closes the lease, saying it was refused at admission.
	r = p.run(t, c, "--deny", "packetstream/psclient", "--admission-params="+paramsRef)
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, chain.StateClosed, p.state(bad))
	assert.Equal(t, chain.StateClosed, p.state(persistent))
	assert.Equal(t, chain.StateActive, p.state(good))
	msgs := map[string]string{}
	for _, a := range r.Actions(verbClose) {
		msgs[a["lease"].(string)], _ = a["message"].(string)
		assert.Equal(t, fmt.Sprint("Namespace/", a["namespace"]), a["object"], "the line names the lease's namespace")
	}
	assert.Contains(t, msgs[bad.String()], `service asvc runs docker.io/packetstream/psclient:2 (denied by "packetstream/psclient"); the image is also refused at admission (ReplicaSet asvc-`)
	assert.Contains(t, msgs[persistent.String()], `service db runs packetstream/psclient:4 (docker.io/packetstream/psclient:4; denied by "packetstream/psclient"); the image is also refused at admission (StatefulSet db cannot create its pods)`)
}

// replicaFailure is the message of the ReplicaSet's failure to create
// pods in the namespace that the job reads as the policy's refusal, ""
// while there is none.
func replicaFailure(t *testing.T, c *kubetest.Cluster, ns string) string {
	t.Helper()
	list, err := c.Kube.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, rs := range list.Items {
		if refusal := admissionparams.Refusal(&rs); refusal != "" {
			return refusal
		}
	}
	return ""
}

// The chart's hook after helm install and upgrade: the lists written, and
// nothing else (no chain is given, none is asked, nothing is closed).
func TestKillLeaseByImageAdmissionParamsOnly(t *testing.T) {
	c, _ := akashtest.Shared(t)
	ctx := context.Background()
	installPolicy(t, c, "0")
	bin := jobtest.Build(t, ".")
	r := jobtest.Run(t, bin, "--kubeconfig", c.KubeconfigPath, "--deny", "packetstream/psclient", "--admission-params="+paramsRef, "--admission-params-only")
	require.Equal(t, 0, r.Code, r.Raw)
	require.NotNil(t, r.Message("the admission policy's parameters hold the lists; nothing else is done (--admission-params-only)"))
	assert.Nil(t, r.Message("chain node"), "no chain asked")
	params, err := admissionparams.Read(ctx, c.Dynamic(), "akash-services", "akash-janitor-denied-images-params")
	require.NoError(t, err)
	assert.Equal(t, "packetstream/psclient", params["deny.0.entry"])

	r = jobtest.Run(t, bin, "--kubeconfig", c.KubeconfigPath, "--deny", "packetstream/psclient", "--admission-params-only")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "--admission-params-only: needs --admission-params, the parameters to write")
}
