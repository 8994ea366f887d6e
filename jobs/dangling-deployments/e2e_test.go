package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "big", CPU: "64", Memory: "256Gi", Pods: 400}))
}

type world struct {
	c        *kubetest.Cluster
	b        *akashtest.Builder
	p        *chaintest.Provider
	key      *chaintx.Signer
	chain    *chaintest.Chain
	nextDSeq uint64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c, b := akashtest.Shared(t)
	p := chaintest.NewProvider(t)
	return &world{c: c, b: b, p: p, key: p.Key, chain: p.Chain, nextDSeq: 100}
}

// lease makes a lease of this provider: in the cluster if inCluster, and
// on chain in state (unless ""), created at createdAgo blocks.
func (w *world) lease(t *testing.T, inCluster bool, state string, createdAgo int64) akash.LeaseID {
	t.Helper()
	w.nextDSeq++
	id := akash.LeaseID{Owner: akashtest.LeaseID(int(w.nextDSeq)).Owner, DSeq: w.nextDSeq, GSeq: 1, OSeq: 1, Provider: w.key.Address}
	if inCluster {
		// Names unique across leases and tests: hosts and IPs are named
		// after them.
		svc := fmt.Sprintf("app%d-%s", w.nextDSeq, w.key.Address[7:13])
		require.NoError(t, w.b.Create(context.Background(), akashtest.Lease{ID: id, Hostnames: []string{fmt.Sprintf("%s.%s.example.com", svc, w.key.Address[7:15])},
			LeasedIPs: []int32{8080}, Services: []akashtest.Service{{Name: svc, Image: "app:1", CPU: "10m", Memory: "16Mi"}}}))
	}
	if state != "" {
		l := chain.Lease{ID: id, State: state, CreatedAt: w.chain.Height - createdAgo}
		if state == chain.StateReclaiming {
			l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: w.chain.Height, Deadline: time.Now().Add(time.Hour)}
		}
		w.chain.Put(l)
	}
	return id
}

func (w *world) closeOnChain(id akash.LeaseID, blocksAgo int64) {
	w.chain.Close(id, "lease_closed_reason_insufficient_funds")
	l, _ := w.chain.Get(id)
	l.ClosedOn = w.chain.Height - blocksAgo
	w.chain.Put(l)
}

// run runs the job as the CronJob does, beside a running provider pod
// (the job acts only while it is Ready).
func (w *world) run(t *testing.T, args ...string) jobtest.Result {
	t.Helper()
	require.NoError(t, akashtest.NewBuilder(w.c).ProviderPod(context.Background()))
	base := append([]string{"--kubeconfig", w.c.KubeconfigPath, "--provider", w.key.Address, "--chain-page-limit=5"}, w.p.Flags()...)
	return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
}

// present tells what the cluster still holds of a lease.
func (w *world) present(t *testing.T, id akash.LeaseID) (ns, manifest bool, hosts, ips int) {
	t.Helper()
	ctx := context.Background()
	_, err := w.c.Kube.CoreV1().Namespaces().Get(ctx, id.Namespace(), metav1.GetOptions{})
	if err == nil {
		nsObj, _ := w.c.Kube.CoreV1().Namespaces().Get(ctx, id.Namespace(), metav1.GetOptions{})
		ns = nsObj.DeletionTimestamp == nil
	} else {
		require.True(t, apierrors.IsNotFound(err), "%v", err)
	}
	_, err = w.c.Dynamic().Resource(akash.ManifestsResource).Namespace("lease").Get(ctx, id.Namespace(), metav1.GetOptions{})
	manifest = err == nil
	sel := metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq + "=" + fmt.Sprint(id.DSeq) + "," + akash.LabelLeaseProvider + "=" + id.Provider}
	h, err := w.c.Dynamic().Resource(akash.ProviderHostsResource).Namespace("lease").List(ctx, sel)
	require.NoError(t, err)
	i, err := w.c.Dynamic().Resource(akash.ProviderLeasedIPsResource).Namespace("lease").List(ctx, sel)
	require.NoError(t, err)
	return ns, manifest, len(h.Items), len(i.Items)
}

func outcomes(r jobtest.Result) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{verbTeardown, verbClose} {
		for _, a := range r.Actions(verb) {
			out[verb+" "+a["lease"].(string)] = a["outcome"].(string)
		}
	}
	return out
}

// Both ways, against a node as recorded (2.0.1: no reclamation, the
// reclaiming filter refused) and one with reclamation (2.1).
func TestDanglingBothWays(t *testing.T) {
	t.Run("node 2.0.1", func(t *testing.T) { danglingBothWays(t, false) })
	t.Run("node 2.1 with reclamation", func(t *testing.T) { danglingBothWays(t, true) })
}

func danglingBothWays(t *testing.T, reclamation bool) {
	w := newWorld(t)
	if reclamation {
		w.chain.WithReclamation()
	}
	closedOld := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(closedOld, 1000) // ~1h42m ago
	closedYoung := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(closedYoung, 5) // 30 s ago
	active := w.lease(t, true, chain.StateActive, 5000)
	broke := w.lease(t, true, chain.StateInsufficientFunds, 5000)
	var reclaiming akash.LeaseID
	if reclamation {
		reclaiming = w.lease(t, true, chain.StateReclaiming, 5000)
	} else {
		reclaiming = w.lease(t, true, chain.StateActive, 5000)
	}
	missingOld := w.lease(t, false, chain.StateActive, 2000)  // ~3h24m
	missingYoung := w.lease(t, false, chain.StateActive, 100) // ~10 min
	// A Manifest whose namespace went away (the provider may redeploy it).
	manifestOnly := w.lease(t, true, chain.StateActive, 5000)
	require.NoError(t, w.c.Kube.CoreV1().Namespaces().Delete(context.Background(), manifestOnly.Namespace(), metav1.DeleteOptions{}))
	for i := 0; i < 16; i++ {
		w.lease(t, true, chain.StateActive, 5000) // a healthy provider around them
	}

	// Report only (the default: teardown on, close-missing off), dry-run.
	r := w.run(t, "--dry-run", "--log-level=debug")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, w.chain.Version, r.Message("chain node")["node_version"], "the node's version, once a run")
	if !reclamation {
		assert.NotNil(t, r.Message("the node knows no reclaiming state: no lease is reclaiming"))
	}
	got := outcomes(r)
	assert.Equal(t, map[string]string{
		verbTeardown + " " + closedOld.String():   "planned",
		verbTeardown + " " + closedYoung.String(): "skipped",
	}, got)
	assert.Len(t, r.With("reason", "LeaseWithoutWorkload"), 2, "active leases with nothing here are reported")
	assert.Len(t, r.With("reason", "LeaseWithoutNamespace"), 1, "a Manifest without its namespace is reported")
	ns, m, h, i := w.present(t, closedOld)
	assert.True(t, ns && m && h == 1 && i == 1, "dry-run removes nothing")

	// Paused: the same plan, every action held, nothing removed or closed.
	r = w.run(t, "--close-missing", "--paused")
	require.Equal(t, 0, r.Code, r.Raw)
	for key, outcome := range outcomes(r) {
		assert.Equal(t, "skipped", outcome, key)
	}
	assert.Contains(t, outcomes(r), verbClose+" "+missingOld.String(), "planned as ever")
	for _, a := range r.Actions(verbTeardown) {
		assert.Equal(t, "paused: --paused is set (the chart's global.pause)", a["detail"])
	}
	ns, m, h, i = w.present(t, closedOld)
	assert.True(t, ns && m && h == 1 && i == 1, "a paused run removes nothing")
	l, _ := w.chain.Get(missingOld)
	assert.Equal(t, chain.StateActive, l.State, "a paused run closes nothing")

	// For real, both ways.
	r = w.run(t, "--close-missing")
	require.Equal(t, 0, r.Code)
	l, _ = w.chain.Get(manifestOnly)
	assert.Equal(t, chain.StateActive, l.State, "only with --close-without-namespace")
	got = outcomes(r)
	assert.Equal(t, "done", got[verbTeardown+" "+closedOld.String()])
	assert.Equal(t, "skipped", got[verbTeardown+" "+closedYoung.String()], "the provider goes first")
	assert.Equal(t, "done", got[verbClose+" "+missingOld.String()])
	assert.Equal(t, "skipped", got[verbClose+" "+missingYoung.String()], "the tenant may not have sent the manifest yet")
	ns, m, h, i = w.present(t, closedOld)
	assert.False(t, ns || m || h > 0 || i > 0, "namespace, Manifest, hosts and IPs all gone")
	l, _ = w.chain.Get(missingOld)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "lease_closed_reason_manifest_timeout", l.Reason)
	for _, id := range []akash.LeaseID{active, broke, reclaiming, closedYoung} {
		ns, m, _, _ := w.present(t, id)
		assert.True(t, ns && m, "%s is left alone", id)
	}
	for _, id := range []akash.LeaseID{active, missingYoung} {
		l, _ := w.chain.Get(id)
		assert.Equal(t, chain.StateActive, l.State)
	}

	r = w.run(t, "--close-without-namespace")
	assert.Equal(t, "done", outcomes(r)[verbClose+" "+manifestOnly.String()])
	l, _ = w.chain.Get(manifestOnly)
	assert.Equal(t, chain.StateClosed, l.State)

	// Idempotent: the next run has nothing to do there.
	r = w.run(t)
	assert.NotContains(t, outcomes(r), verbTeardown+" "+closedOld.String())
}

func TestDanglingFailsClosed(t *testing.T) {
	w := newWorld(t)
	var ids []akash.LeaseID
	for i := 0; i < 12; i++ {
		ids = append(ids, w.lease(t, true, chain.StateActive, 5000))
	}
	// A Manifest with this provider's label but a broken dseq.
	_, err := w.c.Dynamic().Resource(akash.ManifestsResource).Namespace("lease").Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "akash.network/v2beta2", "kind": "Manifest",
		"metadata": map[string]any{"name": "broken-labels", "labels": map[string]any{akash.LabelLeaseProvider: w.key.Address, akash.LabelLeaseDSeq: "abc"}},
		"spec":     map[string]any{"lease_id": map[string]any{"owner": "x", "dseq": "1", "gseq": 1, "oseq": 1, "provider": w.key.Address}, "group": map[string]any{"name": "g", "services": []any{}}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	untouched := func() {
		t.Helper()
		for _, id := range ids {
			ns, m, _, _ := w.present(t, id)
			require.True(t, ns && m, "%s must be untouched", id)
		}
	}

	w.chain.Garble(true)
	r := w.run(t)
	assert.Equal(t, 1, r.Code, "chain answers garbage: exit 1")
	assert.Contains(t, r.Raw, "nothing was done")
	w.chain.Garble(false)

	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", w.c.KubeconfigPath, "--provider", w.key.Address, "--chain-rest", "http://127.0.0.1:1")
	assert.Equal(t, 1, r.Code, "chain unreachable: exit 1")
	assert.Contains(t, r.Raw, "nothing was done")

	w.chain.LoopPages(true)
	r = w.run(t)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "pagination does not finish")
	w.chain.LoopPages(false)

	w.chain.FailListAfter(1)
	r = w.run(t)
	assert.Equal(t, 1, r.Code, "a page that fails halfway")
	assert.Contains(t, r.Raw, "simulated failure halfway")
	w.chain.FailListAfter(0)
	untouched()

	// The chain forgot every lease (an empty answer): the limit holds.
	for _, id := range ids {
		w.closeOnChain(id, 5000)
	}
	r = w.run(t)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "more likely wrong than true")
	assert.Empty(t, r.Actions(verbTeardown))
	untouched()
	assert.NotEmpty(t, r.With("message", "lease labels do not parse; left alone"))

	// A key that is not the provider's: nothing at all is done, teardowns
	// included.
	other := chaintest.NewProvider(t)
	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", w.c.KubeconfigPath, "--provider", w.key.Address,
		"--chain-rest", w.p.URL, "--close-missing", "--key-file", other.KeyFile, "--key-pass-file", other.KeyPassFile, "--max-share=1", "--max-count=100")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "refusing to act for another provider")
	assert.Empty(t, r.Actions(verbTeardown))
	untouched()

	// Report only: both directions off, the dangling leases are named.
	r = w.run(t, "--teardown=false", "--max-share=1", "--max-count=100")
	assert.Equal(t, 0, r.Code)
	assert.Len(t, r.With("reason", "LeaseNotLiveOnChain"), len(ids))
	untouched()

	r = w.run(t, "--provider", "")
	assert.Equal(t, 0, r.Code)
	assert.Contains(t, r.Raw, "this job waits for its input")
	r = w.run(t, "--max-share=0")
	assert.Equal(t, 2, r.Code)
}

// On a node with reclamation (2.1, AEP-82), an active lease with nothing
// here and a reclamation window gets its window started first; it is held
// while the window runs, with the deadline as a time, and closed by the
// first run after the deadline.
func TestDanglingStartsReclamation(t *testing.T) {
	w := newWorld(t)
	w.chain.WithReclamation()
	missing := w.lease(t, false, chain.StateActive, 2000)
	l, _ := w.chain.Get(missing)
	l.Reclamation = &chain.Reclamation{Window: time.Hour}
	w.chain.Put(l)
	for i := 0; i < 10; i++ {
		w.lease(t, true, chain.StateActive, 5000)
	}

	r := w.run(t, "--close-missing", "--dry-run")
	require.Equal(t, 0, r.Code, r.Raw)
	acts := r.Actions(verbStartReclaim)
	require.Len(t, acts, 1)
	assert.Equal(t, "planned", acts[0]["outcome"])
	assert.Empty(t, w.chain.Applied(), "dry-run sends nothing")

	r = w.run(t, "--close-missing")
	require.Equal(t, 0, r.Code, r.Raw)
	acts = r.Actions(verbStartReclaim)
	require.Len(t, acts, 1)
	assert.Equal(t, "done", acts[0]["outcome"])
	assert.NotEmpty(t, acts[0]["tx_hash"])
	assert.Empty(t, r.Actions(verbClose), "not closed in the same run: the chain would refuse")
	l, _ = w.chain.Get(missing)
	require.Equal(t, chain.StateReclaiming, l.State)
	deadline := l.Reclamation.Deadline
	assert.WithinDuration(t, time.Now().Add(time.Hour), deadline, time.Minute)

	r = w.run(t, "--close-missing")
	require.Equal(t, 0, r.Code, r.Raw)
	acts = r.Actions(verbClose)
	require.Len(t, acts, 1)
	assert.Equal(t, "skipped", acts[0]["outcome"])
	assert.Equal(t, "in its reclamation window until "+deadline.UTC().Format(time.RFC3339)+": closed by a run after that", acts[0]["detail"])

	l.Reclamation.Deadline = time.Now().Add(-time.Second)
	w.chain.Put(l)
	r = w.run(t, "--close-missing")
	require.Equal(t, 0, r.Code, r.Raw)
	acts = r.Actions(verbClose)
	require.Len(t, acts, 1)
	assert.Equal(t, "done", acts[0]["outcome"])
	l, _ = w.chain.Get(missing)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "lease_closed_reason_manifest_timeout", l.Reason)
}
