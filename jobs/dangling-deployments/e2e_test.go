package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus/providerstatustest"
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
	// status is the provider's /status, from what it keeps in memory;
	// record the restart's cool-down ConfigMap, in akash-services.
	status *providerstatustest.Server
	record string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c, b := akashtest.Shared(t)
	p := chaintest.NewProvider(t)
	w := &world{c: c, b: b, p: p, key: p.Key, chain: p.Chain, nextDSeq: 100}
	w.status = providerstatustest.Start(t, p.Key.Address, b.ProviderMemory(p.Key.Address).Counts)
	ctx := context.Background()
	require.NoError(t, b.ProviderPod(ctx))
	// The record as the chart makes it: empty.
	w.record = "restart-" + strings.ToLower(p.Key.Address[len(p.Key.Address)-10:])
	_, err := c.Kube.CoreV1().ConfigMaps(akashtest.ProviderNamespace).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: w.record, Namespace: akashtest.ProviderNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return w
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
			LeasedIPs: []int32{8080}, IPEndpoint: svc, Services: []akashtest.Service{{Name: svc, Image: "app:1", CPU: "10m", Memory: "16Mi"}}}))
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

// closeOnChain closes the lease as its tenant does, blocksAgo.
func (w *world) closeOnChain(id akash.LeaseID, blocksAgo int64) {
	w.chain.Close(id, "lease_closed_owner")
	l, _ := w.chain.Get(id)
	l.ClosedOn = w.chain.Height - blocksAgo
	w.chain.Put(l)
}

// drain funds the lease's deployment with what it pays in blocks blocks,
// lets them pass and blocksAfter more, and has the provider's daemon
// withdraw, as its balance checker does once the funds are out: the
// chain ends the lease for insufficient funds (node x/market/hooks).
func (w *world) drain(t *testing.T, id akash.LeaseID, blocks, blocksAfter int64) {
	t.Helper()
	w.chain.Fund(id.Owner, id.DSeq, blocks) // the price is 1 a block
	w.chain.Advance(blocks + 1)
	require.NoError(t, w.chain.WithdrawLease(id))
	l, _ := w.chain.Get(id)
	require.Equal(t, chain.StateInsufficientFunds, l.State)
	w.chain.Advance(blocksAfter)
}

// podUID is the provider pod's UID once it runs: a new one after a
// restart.
func (w *world) podUID(t *testing.T) types.UID {
	t.Helper()
	require.NoError(t, w.b.ProviderPod(context.Background()))
	pod, err := w.c.Kube.CoreV1().Pods(akashtest.ProviderNamespace).Get(context.Background(), akashtest.ProviderPod, metav1.GetOptions{})
	require.NoError(t, err)
	return pod.UID
}

// run runs the job as the CronJob does, beside a running provider pod
// (the job acts only while it is Ready).
func (w *world) run(t *testing.T, args ...string) jobtest.Result {
	t.Helper()
	require.NoError(t, akashtest.NewBuilder(w.c).ProviderPod(context.Background()))
	base := append([]string{"--kubeconfig", w.c.KubeconfigPath, "--provider", w.key.Address, "--chain-page-limit=5",
		"--provider-status-url", w.status.StatusURL(), "--restart-record-configmap", akashtest.ProviderNamespace + "/" + w.record}, w.p.Flags()...)
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
	// Its escrow ran dry ~50 min ago (support#515): ended by the chain,
	// its workload still running here.
	broke := w.lease(t, true, chain.StateActive, 5000)
	w.drain(t, broke, 300, 500)
	closedOld := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(closedOld, 1000) // ~1h42m ago
	closedYoung := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(closedYoung, 5) // 30 s ago
	active := w.lease(t, true, chain.StateActive, 5000)
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
		verbTeardown + " " + broke.String():       "planned",
		verbTeardown + " " + closedOld.String():   "planned",
		verbTeardown + " " + closedYoung.String(): "skipped",
	}, got)
	restart := r.Actions(verbRestart)
	require.Len(t, restart, 1, "the teardowns would leave the provider holding their capacity")
	assert.Equal(t, "planned", restart[0]["outcome"])
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
	restart = r.Actions(verbRestart)
	require.Len(t, restart, 1, "planned, and held by the pause as well")
	assert.Equal(t, "skipped", restart[0]["outcome"])
	assert.Equal(t, "paused: --paused is set (the chart's global.pause)", restart[0]["detail"])
	l, _ := w.chain.Get(missingOld)
	assert.Equal(t, chain.StateActive, l.State, "a paused run closes nothing")

	// For real, both ways.
	uid := w.podUID(t)
	r = w.run(t, "--close-missing")
	require.Equal(t, 0, r.Code, r.Raw)
	l, _ = w.chain.Get(manifestOnly)
	assert.Equal(t, chain.StateActive, l.State, "only with --close-without-namespace")
	got = outcomes(r)
	assert.Equal(t, "done", got[verbTeardown+" "+closedOld.String()])
	assert.Equal(t, "done", got[verbTeardown+" "+broke.String()])
	restart = r.Actions(verbRestart)
	require.Len(t, restart, 1)
	assert.Equal(t, "done", restart[0]["outcome"])
	assert.NotEqual(t, uid, w.podUID(t), "the provider's pod was deleted and started again")
	assert.Equal(t, "skipped", got[verbTeardown+" "+closedYoung.String()], "the provider goes first")
	assert.Equal(t, "done", got[verbClose+" "+missingOld.String()])
	assert.Equal(t, "skipped", got[verbClose+" "+missingYoung.String()], "the tenant may not have sent the manifest yet")
	ns, m, h, i = w.present(t, closedOld)
	assert.False(t, ns || m || h > 0 || i > 0, "namespace, Manifest, hosts and IPs all gone")
	l, _ = w.chain.Get(missingOld)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "lease_closed_reason_manifest_timeout", l.Reason)
	for _, id := range []akash.LeaseID{active, reclaiming, closedYoung} {
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
		w.chain.Forget(id)
	}
	r = w.run(t)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "more likely wrong than true")
	assert.Empty(t, r.Actions(verbTeardown))
	assert.EqualValues(t, len(ids), r.Message("observed")["dangling"], "the observed line counts what the limits then leave")
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

// events are the Events recorded on an object, by action.
func (w *world) events(t *testing.T, namespace, name string) map[string]string {
	t.Helper()
	list, err := w.c.Kube.EventsV1().Events(namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out[e.Action] = e.Reason + ": " + e.Note
		}
	}
	return out
}

// support#515, end to end: a deployment's escrow runs dry while its
// workload (a miner, say) runs; the provider's own withdrawal ends the
// lease on chain for insufficient funds, and the provider never tears it
// down. The janitor does, and restarts the provider once so it bids that
// capacity again; held while paused; not again within the cool-down.
func TestDanglingDrainedEscrowIsTornDownAndTheProviderRestarted(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for i := 0; i < 8; i++ {
		w.lease(t, true, chain.StateActive, 5000) // paid up
	}
	miner := w.lease(t, true, chain.StateActive, 5000)
	w.drain(t, miner, 1000, 200) // ran dry ~20 min ago
	counts, err := w.status.Counts()
	require.NoError(t, err)
	assert.Equal(t, 9, counts.Leases, "the provider holds it as any other")

	// Paused: both held, with the reason.
	uid := w.podUID(t)
	r := w.run(t, "--paused")
	require.Equal(t, 0, r.Code, r.Raw)
	tear, restart := r.Actions(verbTeardown), r.Actions(verbRestart)
	require.Len(t, tear, 1)
	require.Len(t, restart, 1)
	for _, a := range append(tear, restart...) {
		assert.Equal(t, "skipped", a["outcome"])
		assert.Equal(t, "paused: --paused is set (the chart's global.pause)", a["detail"])
	}
	ns, m, _, _ := w.present(t, miner)
	assert.True(t, ns && m)
	assert.Equal(t, uid, w.podUID(t))

	// For real: torn down, the provider restarted once.
	r = w.run(t)
	require.Equal(t, 0, r.Code, r.Raw)
	tear, restart = r.Actions(verbTeardown), r.Actions(verbRestart)
	require.Len(t, tear, 1)
	assert.Equal(t, "done", tear[0]["outcome"])
	assert.Equal(t, "LeaseInsufficientFunds", tear[0]["reason"])
	assert.Equal(t, miner.String(), tear[0]["lease"])
	assert.Contains(t, tear[0]["message"], "ended for insufficient funds (its escrow ran dry) at height")
	ns, m, h, i := w.present(t, miner)
	assert.False(t, ns || m || h > 0 || i > 0, "namespace, Manifest, hosts and IPs all gone")
	require.Len(t, restart, 1)
	assert.Equal(t, "done", restart[0]["outcome"])
	assert.Equal(t, "ProviderHoldsEndedLeases", restart[0]["reason"])
	assert.Contains(t, restart[0]["message"], "the provider counts 9 leases (9 reservations: 9 active, 0 pending) but the cluster holds 8 Manifests")
	assert.Equal(t, false, restart[0]["dry_run"])
	assert.NotEqual(t, uid, w.podUID(t), "its pod deleted; its StatefulSet started it again")
	assert.Contains(t, w.events(t, "default", miner.Namespace())[verbTeardown], "LeaseInsufficientFunds: insufficient_funds on chain")
	assert.Contains(t, w.events(t, akashtest.ProviderNamespace, akashtest.ProviderPod)[verbRestart], "ProviderHoldsEndedLeases: the provider counts 9 leases")
	cm, err := w.c.Kube.CoreV1().ConfigMaps(akashtest.ProviderNamespace).Get(ctx, w.record, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data[cooldown.Key], `"job":"dangling-deployments"`, "the restart is recorded for the cool-down")
	assert.NotNil(t, r.Message("provider status"))
	counts, err = w.status.Counts()
	require.NoError(t, err)
	assert.Equal(t, providerstatustest.Counts{Leases: 8, Active: 8}, counts, "restarted, the provider holds only what is here")

	// The next run: nothing left to do.
	r = w.run(t)
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Empty(t, r.Actions(verbTeardown))
	assert.Empty(t, r.Actions(verbRestart))

	// Another lease runs dry within the hour: torn down, but the
	// provider is not restarted again until the cool-down has passed.
	uid = w.podUID(t)
	second := w.lease(t, true, chain.StateActive, 5000)
	w.drain(t, second, 500, 200)
	r = w.run(t)
	require.Equal(t, 0, r.Code, r.Raw)
	require.Len(t, r.Actions(verbTeardown), 1)
	assert.Equal(t, "done", r.Actions(verbTeardown)[0]["outcome"])
	restart = r.Actions(verbRestart)
	require.Len(t, restart, 1)
	assert.Equal(t, "skipped", restart[0]["outcome"])
	assert.Contains(t, restart[0]["detail"], "at most once per --restart-cooldown=1h0m0s")
	assert.Equal(t, uid, w.podUID(t), "not restarted in the cool-down")

	// --restart-provider=never: named, with the command, never done.
	r = w.run(t, "--restart-provider=never")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Empty(t, r.Actions(verbRestart))
	f := r.With("reason", "ProviderHoldsEndedLeases")
	require.Len(t, f, 1)
	assert.Contains(t, f[0]["message"], "restart it by hand (kubectl -n akash-services delete pod akash-provider-0)")
}

// A provider #515 hurts badly: 40% of its leases ended on chain and still
// here. Each run tears down --max-actions of them, the longest ended
// first, instead of refusing the whole run on the share; the provider's
// restart waits for the last of them, so that once gives all their
// capacity back.
func TestDanglingCleansALeakedProviderOverRuns(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	start := w.nextDSeq + 1
	const leases, ended = 50, 20
	w.nextDSeq += leases
	id := func(i int) akash.LeaseID {
		dseq := start + uint64(i)
		return akash.LeaseID{Owner: akashtest.LeaseID(int(dseq)).Owner, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: w.key.Address}
	}
	require.NoError(t, w.b.CreateAll(ctx, 0, leases, func(i int) akashtest.Lease { return akashtest.Lease{ID: id(i), NoWorkloads: true} }))
	for i := 0; i < leases; i++ {
		l := chain.Lease{ID: id(i), State: chain.StateActive, CreatedAt: w.chain.Height - 5000}
		if i < ended {
			l.State, l.ClosedOn, l.Reason = chain.StateInsufficientFunds, w.chain.Height-3000+int64(i), chain.ReasonInsufficientFunds
		}
		w.chain.Put(l)
	}
	left := func() int {
		n := 0
		for i := 0; i < ended; i++ {
			if ns, m, _, _ := w.present(t, id(i)); ns || m {
				n++
			}
		}
		return n
	}

	var restarts []string
	for run, want := range []int{12, 4, 0} {
		r := w.run(t, "--max-actions=8", "--max-share=0.2", "--max-count=5")
		require.Equal(t, 0, r.Code, "run %d: %s", run+1, r.Raw)
		assert.Equal(t, want, left(), "run %d", run+1)
		done := 0
		for _, a := range r.Actions(verbTeardown) {
			if a["outcome"] == "done" {
				done++
			}
		}
		assert.Equal(t, min(8, ended-8*run), done, "run %d", run+1)
		if run == 0 {
			assert.Equal(t, id(0).String(), r.Actions(verbTeardown)[0]["lease"], "the longest ended first")
		}
		for _, a := range r.Actions(verbRestart) {
			restarts = append(restarts, fmt.Sprint(a["outcome"]))
			if run < 2 {
				assert.Contains(t, a["detail"], "left for the next runs (--max-actions): the provider is restarted once they are torn down")
			}
		}
	}
	for i := ended; i < leases; i++ {
		ns, m, _, _ := w.present(t, id(i))
		require.True(t, ns && m, "a live lease is left alone")
	}
	assert.Equal(t, []string{"skipped", "skipped", "done"}, restarts, "held while teardowns are left, then once")
	counts, err := w.status.Counts()
	require.NoError(t, err)
	assert.Equal(t, leases-ended, counts.Leases, "all their capacity given back by the one restart")
}

// A reclaiming lease past its deadline is closed by the next run, also
// when the provider or an operator started its window and its workload
// is still here (node 2.1; provider#432: nothing else ever closes it).
func TestDanglingClosesReclaimedLeases(t *testing.T) {
	w := newWorld(t)
	w.chain.WithReclamation()
	for i := 0; i < 8; i++ {
		w.lease(t, true, chain.StateActive, 5000)
	}
	past := w.lease(t, true, chain.StateReclaiming, 5000)
	l, _ := w.chain.Get(past)
	l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: w.chain.Height - 700, Deadline: time.Now().Add(-5 * time.Minute), Reason: "lease_closed_reason_decommission"}
	w.chain.Put(l)
	inside := w.lease(t, true, chain.StateReclaiming, 5000) // its deadline an hour away

	r := w.run(t)
	require.Equal(t, 0, r.Code, r.Raw)
	f := r.With("reason", "ReclaimDeadlinePassed")
	require.Len(t, f, 1, "without --close-reclaimed: named")
	assert.Contains(t, f[0]["message"], "nobody closes it (enable --close-reclaimed)")

	r = w.run(t, "--close-reclaimed")
	require.Equal(t, 0, r.Code, r.Raw)
	closes := r.Actions(verbClose)
	require.Len(t, closes, 1)
	assert.Equal(t, past.String(), closes[0]["lease"])
	assert.Equal(t, "done", closes[0]["outcome"])
	assert.NotEmpty(t, closes[0]["tx_hash"])
	l, _ = w.chain.Get(past)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "lease_closed_reason_decommission", l.Reason, "closed with the reason its window was started with")
	l, _ = w.chain.Get(inside)
	assert.Equal(t, chain.StateReclaiming, l.State, "inside its window: left")
}

// Ages are the chain's own: on a chain making a block a second (as the
// recorded nodes did), a lease that ended 500 blocks ago ended 8m20s ago,
// inside --grace, and one 700 blocks ago 11m40s ago, past it; a block
// time of 6.117 s assumed would have made both 51 minutes or more.
func TestDanglingAgesInTheChainsTime(t *testing.T) {
	w := newWorld(t)
	w.chain.BlockInterval = time.Second
	young := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(young, 500)
	old := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(old, 700)
	for i := 0; i < 10; i++ {
		w.lease(t, true, chain.StateActive, 5000)
	}
	r := w.run(t, "--dry-run")
	require.Equal(t, 0, r.Code, r.Raw)
	got := outcomes(r)
	assert.Equal(t, "skipped", got[verbTeardown+" "+young.String()])
	assert.Equal(t, "planned", got[verbTeardown+" "+old.String()])
	for _, a := range r.Actions(verbTeardown) {
		if a["lease"] == young.String() {
			assert.Equal(t, "ended 8m20s ago, less than --grace=10m0s: the provider goes first", a["detail"])
		}
	}
	assert.Equal(t, "1s", r.Message("observed")["block_time"], "the pace measured on the chain")
}

// A provider run with another --k8s-manifest-ns keeps its Manifests,
// ProviderHosts and ProviderLeasedIPs there: --manifest-namespace finds and
// tears them down there.
func TestDanglingInTheProvidersManifestNamespace(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.b = &akashtest.Builder{Kube: w.b.Kube, Dynamic: w.b.Dynamic, ManifestNamespace: "akash-crs"}
	require.NoError(t, w.b.EnsureProviderNamespaces(ctx))
	ended := w.lease(t, true, chain.StateActive, 5000)
	w.closeOnChain(ended, 1000)
	for i := 0; i < 8; i++ {
		w.lease(t, true, chain.StateActive, 5000)
	}
	r := w.run(t, "--manifest-namespace=akash-crs", "--restart-provider=never")
	require.Equal(t, 0, r.Code, r.Raw)
	acts := r.Actions(verbTeardown)
	require.Len(t, acts, 1)
	assert.Equal(t, "done", acts[0]["outcome"])
	assert.Contains(t, acts[0]["message"], "Manifest true, 1 hosts, 1 leased IPs")
	_, err := w.c.Dynamic().Resource(akash.ManifestsResource).Namespace("akash-crs").Get(ctx, ended.Namespace(), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "its Manifest is gone from the provider's namespace")
	hosts, err := w.c.Dynamic().Resource(akash.ProviderHostsResource).Namespace("akash-crs").List(ctx,
		metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq + "=" + fmt.Sprint(ended.DSeq)})
	require.NoError(t, err)
	assert.Empty(t, hosts.Items)
}
