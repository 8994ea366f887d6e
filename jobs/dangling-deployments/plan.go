package main

import (
	"fmt"
	"sort"
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
	teardown, closeMissing, closeNoWork bool
	grace, manifestGrace                time.Duration
	maxShare                            float64
	maxCount                            int
}

// finding is a lease reported, not acted on.
type finding struct {
	lease  akash.LeaseID
	reason string
	msg    string
}

// decision is what a run does: teardowns (payload: the lease ID), closes
// and reclamation starts (payload: the chain.Lease as listed), and what it
// only reports.
type decision struct {
	teardowns, closes, starts []actuator.Action
	findings                  []finding
}

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

// withinLimits says, with an error, when more leases look dangling than a
// chain answer can be trusted for: an empty or short answer must never
// look like "everything is closed".
func withinLimits(dangling, inCluster int, o planOptions) error {
	limit := int(o.maxShare * float64(inCluster))
	if dangling > o.maxCount || (inCluster > 0 && dangling > max(limit, 1)) {
		return fmt.Errorf("%d of the cluster's %d leases look dangling (limits: --max-share=%v, --max-count=%d): "+
			"a chain answer this different from the cluster is more likely wrong than true; nothing was done", dangling, inCluster, o.maxShare, o.maxCount)
	}
	return nil
}

// plan decides from what was observed alone. Teardown: a lease the cluster
// holds that the chain says closed for --grace, or does not know (then its
// objects must be --grace old). Close: an active lease with neither
// Manifest nor namespace for --manifest-grace; one with a reclamation
// window not started gets a start-reclaim instead, and is closed by a
// later run once its deadline has passed.
func plan(obs observed, now time.Time, o planOptions) (decision, error) {
	var d decision
	cs, ch := obs.cluster, obs.chain
	age := func(height int64) time.Duration { return time.Duration(ch.height-height) * chain.BlockTime }
	ids := make([]akash.LeaseID, 0, len(ch.live))
	for id := range ch.live {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		l := ch.live[id]
		inc := cs.leases[id]
		noWork := inc == nil || (inc.manifest && !inc.namespace)
		if !noWork || l.State == chain.StateInsufficientFunds {
			continue // insufficient_funds: the chain settles it
		}
		switch {
		case inc == nil && !o.closeMissing:
			d.findings = append(d.findings, finding{id, "LeaseWithoutWorkload", "active on chain with neither Manifest nor namespace here (enable --close-missing to close it)"})
			continue
		case inc != nil && !o.closeNoWork:
			d.findings = append(d.findings, finding{id, "LeaseWithoutNamespace", "active on chain with a Manifest but no namespace; the provider may still deploy it"})
			continue
		}
		leased := age(l.CreatedAt)
		what := "nothing of it in the cluster"
		if inc != nil {
			what = "a Manifest but no namespace"
		}
		a := actuator.Action{Verb: verbClose, Target: target(id, inc), Lease: id.String(), Reason: "LeaseWithoutWorkload", Payload: l,
			Message: fmt.Sprintf("%s on chain for %s with %s: closing the bid", l.State, leased.Round(time.Second), what)}
		deadline, inWindow := l.InReclamationWindow(now)
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
		if a.Verb == verbStartReclaim {
			d.starts = append(d.starts, a)
		} else {
			d.closes = append(d.closes, a)
		}
	}
	gone := suspects(cs, ch)
	n := len(d.closes) + len(d.starts)
	if o.teardown {
		n += len(gone)
	}
	if err := withinLimits(n, len(cs.leases), o); err != nil {
		return decision{}, err
	}
	for _, id := range gone {
		lc := cs.leases[id]
		if !o.teardown {
			d.findings = append(d.findings, finding{id, "LeaseNotLiveOnChain", "in the cluster but not active on chain (enable --teardown to remove it)"})
			continue
		}
		a := actuator.Action{Verb: verbTeardown, Target: target(id, lc), Lease: id.String(), Reason: "LeaseClosedOnChain", Payload: id}
		look, read := obs.looked[id]
		switch {
		case !read:
			return d, fmt.Errorf("lease %s: not read by ID on chain (nothing was done)", id)
		case !look.found:
			a.Message = "the chain does not know this lease: tearing down what the cluster holds of it"
			if old := now.Sub(lc.since); old < o.grace {
				a.Hold = fmt.Sprintf("its objects are %s old, less than --grace=%s", old.Round(time.Second), o.grace)
			}
		case look.lease.State != chain.StateClosed:
			a.Message = "not closed after all"
			a.Hold = fmt.Sprintf("the chain says %s when read by ID: left alone", look.lease.State)
		default:
			l := look.lease
			closedAgo := age(l.ClosedOn)
			a.Message = fmt.Sprintf("closed on chain at height %d (%s ago, %s) but still here (namespace %v, Manifest %v, %d hosts, %d leased IPs): tearing down as the provider does",
				l.ClosedOn, closedAgo.Round(time.Second), l.Reason, lc.namespace, lc.manifest, lc.hosts, lc.ips)
			if closedAgo < o.grace {
				a.Hold = fmt.Sprintf("closed %s ago, less than --grace=%s: the provider goes first", closedAgo.Round(time.Second), o.grace)
			}
		}
		d.teardowns = append(d.teardowns, a)
	}

	return d, nil
}

// target is what a lease's Event is recorded on: its namespace, or its
// Manifest when the cluster holds one but no namespace.
func target(id akash.LeaseID, lc *inCluster) actuator.Ref {
	if lc != nil && !lc.namespace {
		return actuator.Ref{APIVersion: akash.GroupVersion.String(), Kind: "Manifest", Namespace: akash.LeaseNamespace, Name: id.Namespace()}
	}
	return actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id.Namespace()}
}
