package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

const (
	verbTeardown     = "teardown-lease"
	verbClose        = leaseclose.VerbClose
	verbStartReclaim = leaseclose.VerbStartReclaim
)

// planOptions are what the decision depends on.
type planOptions struct {
	teardown, closeMissing, closeNoWork, closeReclaimed bool
	grace, manifestGrace                                time.Duration
	maxShare                                            float64
	maxCount                                            int
	// manifestNS is where the provider keeps its Manifests.
	manifestNS string
}

// finding is a lease reported, not acted on.
type finding struct {
	lease  akash.LeaseID
	reason string
	msg    string
}

// decision is what a run does: teardowns (payload: the lease ID), closes
// of leases with no workload, closes of reclaiming leases past their
// deadline, reclamation starts (payload: the chain.Lease as listed), and
// what it only reports.
type decision struct {
	teardowns, closes, reclaimed, starts []actuator.Action
	findings                             []finding
}

// errPlan marks a plan that cannot be made at all: nothing is done.
var errPlan = errors.New("no plan")

// suspects are the cluster's leases the chain does not list as live: the
// ones observe reads by ID, when teardown is on.
func suspects(cs clusterState, ch chainState) []akash.LeaseID {
	var out []akash.LeaseID
	for id := range cs.leases {
		if _, live := ch.live[id]; !live {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// withinLimits says, with an error, when more leases look dangling on
// absence alone than a chain answer can be trusted for: an empty or short
// answer must never look like "everything is closed".
func withinLimits(dangling, inCluster int, o planOptions) error {
	limit := int(o.maxShare * float64(inCluster))
	if dangling > o.maxCount || (inCluster > 0 && dangling > max(limit, 1)) {
		return fmt.Errorf("%d of the cluster's %d leases look dangling on absence alone (limits: --max-share=%v, --max-count=%d): "+
			"a chain answer this different from the cluster is more likely wrong than true, so those were left as they are", dangling, inCluster, o.maxShare, o.maxCount)
	}
	return nil
}

// plan decides from what was observed alone.
//
// Evidence: a lease the chain, read by ID, says is ended (closed or
// insufficient_funds) for --grace is torn down, oldest end first, whatever
// the share of such leases; a reclaiming lease past its deadline is
// closed (--close-reclaimed), whoever started its window.
//
// Absence: a lease the cluster holds that the chain does not know (its
// objects --grace old) is torn down; an active lease with neither
// Manifest nor namespace for --manifest-grace is closed, or, with a
// reclamation window not started, has it started and is closed by a later
// run. These are bounded by --max-share and --max-count: past them they
// are dropped, and the error says so; the evidence stands.
func plan(obs observed, now time.Time, o planOptions) (decision, error) {
	var d decision
	cs, ch := obs.cluster, obs.chain
	age := ch.clock.Age
	ids := make([]akash.LeaseID, 0, len(ch.live))
	for id := range ch.live {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	var absent []actuator.Action // closes and starts resting on absence in the cluster
	for _, id := range ids {
		l := ch.live[id]
		inc := cs.leases[id]
		deadline, inWindow := l.InReclamationWindow(now)
		noWork := inc == nil || (inc.manifest && !inc.namespace)
		// Past its deadline, a reclaiming lease with nothing here is closed
		// as any lease without workload (below) unless --close-reclaimed
		// closes every one.
		if l.State == chain.StateReclaiming && !inWindow && (o.closeReclaimed || !noWork) {
			// node x/market/handler/server.go CloseBid closes a reclaiming
			// lease once its deadline has passed; neither the chain nor the
			// provider (provider#432) does it.
			started := fmt.Sprintf("reclaiming since height %d (%s ago, %s)", l.Reclamation.StartedAt, age(l.Reclamation.StartedAt).Round(time.Second),
				strings.TrimPrefix(or(l.Reclamation.Reason, "no reason"), "lease_closed_reason_"))
			if !o.closeReclaimed {
				d.findings = append(d.findings, finding{id, "ReclaimDeadlinePassed", started + ", deadline " + chain.WindowText(deadline) + " passed: nobody closes it (enable --close-reclaimed)"})
				continue
			}
			d.reclaimed = append(d.reclaimed, actuator.Action{Verb: verbClose, Target: target(id, inc, o.manifestNS), Lease: id.String(), Reason: "ReclaimDeadlinePassed", Payload: l,
				Message: started + ", its deadline " + chain.WindowText(deadline) + " passed: closing the bid, as neither the chain nor the provider does"})
			continue
		}
		if !noWork {
			continue
		}
		switch {
		case inc == nil && !o.closeMissing:
			d.findings = append(d.findings, finding{id, "LeaseWithoutWorkload", l.State + " on chain with neither Manifest nor namespace here (enable --close-missing to close it)"})
			continue
		case inc != nil && !o.closeNoWork:
			d.findings = append(d.findings, finding{id, "LeaseWithoutNamespace", l.State + " on chain with a Manifest but no namespace; the provider may still deploy it"})
			continue
		}
		leased := age(l.CreatedAt)
		what := "nothing of it in the cluster"
		if inc != nil {
			what = "a Manifest but no namespace"
		}
		a := actuator.Action{Verb: verbClose, Target: target(id, inc, o.manifestNS), Lease: id.String(), Reason: "LeaseWithoutWorkload", Payload: l,
			Message: fmt.Sprintf("%s on chain for %s with %s: closing the bid", l.State, leased.Round(time.Second), what)}
		switch {
		case l.ReclamationUnstarted():
			a.Verb = verbStartReclaim
			a.Message = fmt.Sprintf("active on chain for %s with %s: starting its reclamation window (%s); a later run closes it once that has passed",
				leased.Round(time.Second), what, l.Reclamation.Window)
		case inWindow:
			a.Hold = "in its reclamation window until " + chain.WindowText(deadline) + ": closed by a run after that"
		}
		if leased < o.manifestGrace {
			a.Hold = fmt.Sprintf("leased %s ago, less than --manifest-grace=%s: the tenant may not have sent the manifest yet", leased.Round(time.Second), o.manifestGrace)
		}
		absent = append(absent, a)
	}

	var ended, contradicted, unknown []actuator.Action
	endedAt := map[string]int64{}
	for _, id := range suspects(cs, ch) {
		lc := cs.leases[id]
		if !o.teardown {
			d.findings = append(d.findings, finding{id, "LeaseNotLiveOnChain", "in the cluster but not live on chain (enable --teardown to remove it)"})
			continue
		}
		a := actuator.Action{Verb: verbTeardown, Target: target(id, lc, o.manifestNS), Lease: id.String(), Payload: id}
		look, read := obs.looked[id]
		here := fmt.Sprintf("(namespace %v, Manifest %v, %d hosts, %d leased IPs)", lc.namespace, lc.manifest, lc.hosts, lc.ips)
		switch {
		case !read:
			return decision{}, fmt.Errorf("%w: lease %s: not read by ID on chain (nothing was done)", errPlan, id)
		case !look.found:
			a.Reason = "LeaseUnknownOnChain"
			a.Message = "the chain does not know this lease: tearing down what the cluster holds of it " + here
			if old := now.Sub(lc.since); old < o.grace {
				a.Hold = fmt.Sprintf("its objects are %s old, less than --grace=%s", old.Round(time.Second), o.grace)
			}
			unknown = append(unknown, a)
		case !look.lease.Ended():
			// Not listed, yet live by ID: the listing missed it; it is
			// left alone.
			a.Reason = "LeaseClosedOnChain"
			a.Message = "not ended after all"
			a.Hold = fmt.Sprintf("the chain says %s when read by ID: left alone", look.lease.State)
			contradicted = append(contradicted, a)
		default:
			l := look.lease
			a.Reason = "LeaseClosedOnChain"
			if l.State == chain.StateInsufficientFunds {
				a.Reason = "LeaseInsufficientFunds"
			}
			endedAgo := age(l.ClosedOn)
			a.Message = fmt.Sprintf("%s on chain: %s at height %d (%s ago, %s), but still here %s: tearing down as the provider does",
				l.State, l.EndedText(), l.ClosedOn, endedAgo.Round(time.Second), l.Reason, here)
			if endedAgo < o.grace {
				a.Hold = fmt.Sprintf("ended %s ago, less than --grace=%s: the provider goes first", endedAgo.Round(time.Second), o.grace)
			}
			endedAt[a.Lease] = l.ClosedOn
			ended = append(ended, a)
		}
	}
	// The oldest ends first: a provider leaking many is cleaned over a few
	// runs, the longest-running strays before the others.
	sort.SliceStable(ended, func(i, j int) bool { return endedAt[ended[i].Lease] < endedAt[ended[j].Lease] })
	d.teardowns = append(ended, contradicted...)

	limitErr := withinLimits(len(absent)+len(unknown), len(cs.leases), o)
	if limitErr != nil {
		for _, a := range append(absent, unknown...) {
			id, _ := akash.ParseLeaseID(a.Lease)
			d.findings = append(d.findings, finding{id, "DoubtfulChainAnswer", a.Message + "; left as it is: " + limitErr.Error()})
		}
		return d, limitErr
	}
	d.teardowns = append(d.teardowns, unknown...)
	for _, a := range absent {
		if a.Verb == verbStartReclaim {
			d.starts = append(d.starts, a)
		} else {
			d.closes = append(d.closes, a)
		}
	}
	return d, nil
}

// reasonGroup is the reclaiming leases closed with one reason.
type reasonGroup struct {
	reason  int32
	actions []actuator.Action
}

// byCloseReason groups reclaiming leases by the reason their window was
// started with (a provider's reason, else unspecified), in the order
// first met.
func byCloseReason(actions []actuator.Action) []reasonGroup {
	var out []reasonGroup
	index := map[int32]int{}
	for _, a := range actions {
		reason := int32(10002) // lease_closed_reason_unspecified
		if l, ok := a.Payload.(chain.Lease); ok && l.Reclamation != nil {
			if n, err := chain.ParseCloseReason(l.Reclamation.Reason); err == nil {
				reason = n
			}
		}
		i, ok := index[reason]
		if !ok {
			i = len(out)
			index[reason] = i
			out = append(out, reasonGroup{reason: reason})
		}
		out[i].actions = append(out[i].actions, a)
	}
	return out
}

// target is what a lease's Event is recorded on: its namespace, or its
// Manifest when the cluster holds one but no namespace.
func target(id akash.LeaseID, lc *inCluster, manifestNS string) actuator.Ref {
	if lc != nil && !lc.namespace {
		return actuator.Ref{APIVersion: akash.GroupVersion.String(), Kind: "Manifest", Namespace: manifestNS, Name: id.Namespace()}
	}
	return actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id.Namespace()}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
