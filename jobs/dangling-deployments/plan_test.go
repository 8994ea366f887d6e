package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

const planProvider = "akash174yssdm075y6jm8679dkmexec8jaxgt7pdsml5"

var planNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func planID(dseq uint64) akash.LeaseID {
	return akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: planProvider}
}

// planWorld builds what observe would have read: height 10,000, blocks of
// 6.117 s as measured on the chain (600 blocks are about an hour).
type planWorld struct{ obs observed }

func newPlanWorld() *planWorld {
	return &planWorld{obs: observed{
		cluster: clusterState{leases: map[akash.LeaseID]*inCluster{}},
		chain:   chainState{live: map[akash.LeaseID]chain.Lease{}, clock: chain.Clock{Latest: chain.Block{Height: 10_000}, PerBlock: 6117 * time.Millisecond}},
		looked:  map[akash.LeaseID]lookup{},
	}}
}

// here puts a lease in the cluster, its objects made ago.
func (w *planWorld) here(dseq uint64, namespace bool, ago time.Duration) akash.LeaseID {
	id := planID(dseq)
	w.obs.cluster.leases[id] = &inCluster{id: id, namespace: namespace, manifest: true, hosts: 1, since: planNow.Add(-ago)}
	return id
}

// live puts a lease on chain in state, created blocksAgo.
func (w *planWorld) live(dseq uint64, state string, blocksAgo int64) akash.LeaseID {
	id := planID(dseq)
	w.obs.chain.live[id] = chain.Lease{ID: id, State: state, CreatedAt: w.obs.chain.clock.Latest.Height - blocksAgo}
	return id
}

// closed says what the lookup by ID found for a lease not live: closed
// by its owner blocksAgo.
func (w *planWorld) closed(id akash.LeaseID, blocksAgo int64) {
	w.obs.looked[id] = lookup{found: true, lease: chain.Lease{ID: id, State: chain.StateClosed, ClosedOn: w.obs.chain.clock.Latest.Height - blocksAgo, Reason: "lease_closed_owner"}}
}

// drained says the lookup by ID found the lease ended by the chain for
// insufficient funds blocksAgo (node x/market/hooks/hooks.go).
func (w *planWorld) drained(id akash.LeaseID, blocksAgo int64) {
	w.obs.looked[id] = lookup{found: true, lease: chain.Lease{ID: id, State: chain.StateInsufficientFunds, ClosedOn: w.obs.chain.clock.Latest.Height - blocksAgo,
		Reason: chain.ReasonInsufficientFunds}}
}

func byLease(actions []actuator.Action) map[string]actuator.Action {
	out := map[string]actuator.Action{}
	for _, a := range actions {
		out[a.Lease] = a
	}
	return out
}

var allOn = planOptions{teardown: true, closeMissing: true, closeNoWork: true, closeReclaimed: true, grace: 10 * time.Minute, manifestGrace: time.Hour, maxShare: 1, maxCount: 50,
	manifestNS: "lease"}

func TestPlanTeardown(t *testing.T) {
	w := newPlanWorld()
	old := w.here(1, true, 3*time.Hour)
	w.closed(old, 1000)
	young := w.here(2, true, 3*time.Hour)
	w.closed(young, 5)
	unknownOld := w.here(3, true, 3*time.Hour)
	w.obs.looked[unknownOld] = lookup{}
	unknownYoung := w.here(4, false, 2*time.Minute)
	w.obs.looked[unknownYoung] = lookup{}
	liveAfterAll := w.here(5, true, 3*time.Hour)
	w.obs.looked[liveAfterAll] = lookup{found: true, lease: chain.Lease{ID: liveAfterAll, State: chain.StateActive}}
	healthy := w.here(6, true, 3*time.Hour)
	w.live(6, chain.StateActive, 5000)
	drained := w.here(7, true, 3*time.Hour)
	w.drained(drained, 2000)

	d, err := plan(w.obs, planNow, allOn)
	require.NoError(t, err)
	got := byLease(d.teardowns)
	require.Len(t, got, 6)
	assert.NotContains(t, got, healthy.String())
	a := got[old.String()]
	assert.Empty(t, a.Hold)
	assert.Equal(t, verbTeardown, a.Verb)
	assert.Equal(t, "LeaseClosedOnChain", a.Reason)
	assert.Equal(t, old, a.Payload, "the executor gets the lease ID itself")
	assert.Equal(t, actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: old.Namespace()}, a.Target)
	assert.Equal(t, "closed on chain: closed by its owner at height 9000 (1h41m57s ago, lease_closed_owner), "+
		"but still here (namespace true, Manifest true, 1 hosts, 0 leased IPs): tearing down as the provider does", a.Message)
	// The loss of support#515: ended by the chain when the escrow ran dry.
	b := got[drained.String()]
	assert.Empty(t, b.Hold)
	assert.Equal(t, "LeaseInsufficientFunds", b.Reason)
	assert.Equal(t, "insufficient_funds on chain: ended for insufficient funds (its escrow ran dry) at height 8000 (3h23m54s ago, "+
		"lease_closed_reason_insufficient_funds), but still here (namespace true, Manifest true, 1 hosts, 0 leased IPs): tearing down as the provider does", b.Message)
	assert.Contains(t, got[young.String()].Hold, "less than --grace=10m0s: the provider goes first")
	assert.Empty(t, got[unknownOld.String()].Hold)
	assert.Equal(t, "LeaseUnknownOnChain", got[unknownOld.String()].Reason)
	assert.Equal(t, "the chain does not know this lease: tearing down what the cluster holds of it (namespace true, Manifest true, 1 hosts, 0 leased IPs)",
		got[unknownOld.String()].Message)
	assert.Equal(t, "its objects are 2m0s old, less than --grace=10m0s", got[unknownYoung.String()].Hold)
	assert.Equal(t, actuator.Ref{APIVersion: "akash.network/v2beta2", Kind: "Manifest", Namespace: "lease", Name: unknownYoung.Namespace()},
		got[unknownYoung.String()].Target, "no namespace: the Event goes on the Manifest, in the provider's --k8s-manifest-ns")
	assert.Equal(t, "the chain says active when read by ID: left alone", got[liveAfterAll.String()].Hold)
	var order []string
	for _, a := range d.teardowns[:3] {
		order = append(order, a.Lease)
	}
	assert.Equal(t, []string{drained.String(), old.String(), young.String()}, order, "the oldest end first, evidence before absence")

	// Teardown off: reported, not planned.
	off := allOn
	off.teardown = false
	d, err = plan(w.obs, planNow, off)
	require.NoError(t, err)
	assert.Empty(t, d.teardowns)
	assert.Len(t, d.findings, 6)
	assert.Equal(t, "LeaseNotLiveOnChain", d.findings[0].reason)

	// A suspect observe did not read is a bug: nothing is planned.
	delete(w.obs.looked, old)
	_, err = plan(w.obs, planNow, allOn)
	assert.ErrorIs(t, err, errPlan)
	assert.ErrorContains(t, err, "not read by ID on chain (nothing was done)")
}

func TestPlanClose(t *testing.T) {
	w := newPlanWorld()
	missingOld := w.live(10, chain.StateActive, 2000)
	missingYoung := w.live(11, chain.StateActive, 100)
	manifestOnly := w.live(12, chain.StateActive, 2000)
	w.here(12, false, 3*time.Hour)
	withWindow := w.live(14, chain.StateActive, 2000)
	l := w.obs.chain.live[withWindow]
	l.Reclamation = &chain.Reclamation{Window: 2 * time.Hour}
	w.obs.chain.live[withWindow] = l
	reclaiming := w.live(15, chain.StateReclaiming, 2000)
	l = w.obs.chain.live[reclaiming]
	l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: 9900, Deadline: planNow.Add(20 * time.Minute)}
	w.obs.chain.live[reclaiming] = l
	reclaimed := w.live(16, chain.StateReclaiming, 2000)
	l = w.obs.chain.live[reclaimed]
	l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: 9000, Deadline: planNow.Add(-time.Minute), Reason: "lease_closed_reason_decommission"}
	w.obs.chain.live[reclaimed] = l
	// Its window started by the provider or an operator, its workload
	// still here: closed all the same once the deadline has passed.
	reclaimedHere := w.live(17, chain.StateReclaiming, 2000)
	w.here(17, true, 3*time.Hour)
	l = w.obs.chain.live[reclaimedHere]
	l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: 9000, Deadline: planNow.Add(-time.Hour)}
	w.obs.chain.live[reclaimedHere] = l
	for i := uint64(20); i < 30; i++ { // a healthy provider around them
		w.here(i, true, 3*time.Hour)
		w.live(i, chain.StateActive, 5000)
	}

	d, err := plan(w.obs, planNow, allOn)
	require.NoError(t, err)
	closes := byLease(d.closes)
	assert.Len(t, closes, 4)
	a := closes[missingOld.String()]
	assert.Empty(t, a.Hold)
	assert.Equal(t, verbClose, a.Verb)
	assert.Equal(t, "LeaseWithoutWorkload", a.Reason)
	assert.Equal(t, w.obs.chain.live[missingOld], a.Payload, "the executor gets the lease as listed")
	assert.Equal(t, "active on chain for 3h23m54s with nothing of it in the cluster: closing the bid", a.Message)
	assert.Contains(t, closes[missingYoung.String()].Hold, "less than --manifest-grace=1h0m0s")
	assert.Equal(t, "Manifest", closes[manifestOnly.String()].Target.Kind)
	assert.Equal(t, "in its reclamation window until 2026-12-02T12:20:00Z: closed by a run after that", closes[reclaiming.String()].Hold)
	reclaimedAll := byLease(d.reclaimed)
	require.Len(t, reclaimedAll, 2)
	r := reclaimedAll[reclaimed.String()]
	assert.Empty(t, r.Hold, "past its deadline, the close may go")
	assert.Equal(t, "ReclaimDeadlinePassed", r.Reason)
	assert.Equal(t, "reclaiming since height 9000 (1h41m57s ago, decommission), its deadline 2026-12-02T11:59:00Z passed: "+
		"closing the bid, as neither the chain nor the provider does", r.Message)
	assert.Equal(t, "Namespace", reclaimedAll[reclaimedHere.String()].Target.Kind, "its workload here: closed too")
	groups := byCloseReason(d.reclaimed)
	require.Len(t, groups, 2, "each with the reason its window was started with")
	assert.Equal(t, int32(10001), groups[0].reason)
	assert.Equal(t, int32(10002), groups[1].reason, "no provider reason given: unspecified")
	require.Len(t, d.starts, 1)
	assert.Equal(t, withWindow.String(), d.starts[0].Lease)
	assert.Equal(t, verbStartReclaim, d.starts[0].Verb)
	assert.Contains(t, d.starts[0].Message, "starting its reclamation window (2h0m0s); a later run closes it once that has passed")
	assert.Empty(t, d.findings)

	// Without the close flags, only reports.
	reportOnly := allOn
	reportOnly.closeMissing, reportOnly.closeNoWork, reportOnly.closeReclaimed = false, false, false
	d, err = plan(w.obs, planNow, reportOnly)
	require.NoError(t, err)
	assert.Empty(t, d.closes)
	assert.Empty(t, d.reclaimed)
	assert.Empty(t, d.starts)
	reasons := map[string]int{}
	for _, f := range d.findings {
		reasons[f.reason]++
	}
	assert.Equal(t, map[string]int{"LeaseWithoutWorkload": 5, "LeaseWithoutNamespace": 1, "ReclaimDeadlinePassed": 1}, reasons,
		"past its deadline with nothing here: a lease without workload; with its workload here: a reclamation nobody finishes")

	// --close-missing without --close-reclaimed: the one with nothing here
	// is closed as a lease without workload, the other reported.
	missingOnly := allOn
	missingOnly.closeReclaimed = false
	d, err = plan(w.obs, planNow, missingOnly)
	require.NoError(t, err)
	assert.Empty(t, d.reclaimed)
	assert.Equal(t, "LeaseWithoutWorkload", byLease(d.closes)[reclaimed.String()].Reason)
	require.Len(t, d.findings, 1)
	assert.Equal(t, finding{reclaimedHere, "ReclaimDeadlinePassed", d.findings[0].msg}, d.findings[0])
}

// More leases dangling on absence alone than the limits allow: a chain
// answer that different is more likely wrong than true, and those are
// left. A lease the chain says ended, read by ID, is evidence: torn down
// whatever its share.
func TestPlanLimitsAbsenceNotEvidence(t *testing.T) {
	w := newPlanWorld()
	for i := uint64(1); i <= 10; i++ {
		id := w.here(i, true, 3*time.Hour)
		w.obs.looked[id] = lookup{}
	}
	for i := uint64(11); i <= 100; i++ {
		w.here(i, true, 3*time.Hour)
		w.live(i, chain.StateActive, 5000)
	}
	o := allOn
	o.maxShare = 0.2
	d, err := plan(w.obs, planNow, o)
	require.NoError(t, err, "10 of 100 is within 20%")
	assert.Len(t, d.teardowns, 10)

	o.maxCount = 9
	d, err = plan(w.obs, planNow, o)
	assert.EqualError(t, err, "10 of the cluster's 100 leases look dangling on absence alone (limits: --max-share=0.2, --max-count=9): "+
		"a chain answer this different from the cluster is more likely wrong than true, so those were left as they are")
	assert.NotErrorIs(t, err, errPlan, "the rest of the plan stands")
	assert.Empty(t, d.teardowns)
	assert.Len(t, d.findings, 10, "each left one is named")
	assert.Equal(t, "DoubtfulChainAnswer", d.findings[0].reason)

	// The chain answers no live lease at all: everything looks gone.
	empty := newPlanWorld()
	for i := uint64(1); i <= 100; i++ {
		empty.obs.looked[empty.here(i, true, 3*time.Hour)] = lookup{}
	}
	d, err = plan(empty.obs, planNow, allOn)
	assert.ErrorContains(t, err, fmt.Sprintf("%d of the cluster's %d leases look dangling", 100, 100))
	assert.Empty(t, d.teardowns)

	// A provider #515 hurts: 40 of its 100 leases ended on chain, read by
	// ID. All 40 are planned, oldest first; the run's budget
	// (--max-actions) spreads them over runs.
	leaked := newPlanWorld()
	for i := uint64(1); i <= 100; i++ {
		id := leaked.here(i, true, 3*time.Hour)
		switch {
		case i <= 30:
			leaked.drained(id, int64(1000+i))
		case i <= 40:
			leaked.closed(id, int64(5000+i))
		default:
			leaked.live(i, chain.StateActive, 5000)
		}
	}
	o = allOn
	o.maxShare, o.maxCount = 0.2, 10
	d, err = plan(leaked.obs, planNow, o)
	require.NoError(t, err)
	require.Len(t, d.teardowns, 40)
	assert.Equal(t, planID(40).String(), d.teardowns[0].Lease, "ended longest ago")
	assert.Equal(t, planID(1).String(), d.teardowns[39].Lease)
	for _, a := range d.teardowns {
		assert.Empty(t, a.Hold)
	}
}
