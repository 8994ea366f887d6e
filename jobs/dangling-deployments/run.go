package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

const (
	verbTeardown = "teardown-lease"
	verbClose    = "close-lease"
)

// candidate is a lease that looks dangling, and which way.
type candidate struct {
	verb string
	lc   *inCluster   // nil for a lease with nothing in the cluster
	cl   *chain.Lease // its chain state when live
}

func run(ctx context.Context, env *job.Env, o *options) error {
	if o.provider == "" || o.chain.REST == "" {
		env.Log.Warn().Msg("no --provider or no --chain-rest: nothing to reconcile; this job waits for its input")
		return nil
	}
	if err := chain.ValidateAddress(o.provider); err != nil {
		return job.BadInput("--provider: %w (nothing was done)", err)
	}
	client, err := o.chain.Client()
	if err != nil {
		return job.BadInput("%w", err)
	}
	// The key is checked before anything is done: a key that is not the
	// provider's stops the whole run, teardowns included.
	var closer leaseclose.Closer
	if o.closeMissing || o.closeNoWork {
		if closer, err = o.chain.Closer(client, o.provider, 10, "akash-janitor dangling-deployments", env.Clients.Config); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
	}
	cs, err := observeCluster(ctx, env, o.provider)
	if err != nil {
		return fmt.Errorf("observe the cluster (nothing was done): %w", err)
	}
	for _, b := range cs.broken {
		env.Log.Warn().Str("object", b).Msg("lease labels do not parse; left alone")
	}
	ch, err := observeChain(ctx, client, o.provider, env.Log)
	if err != nil {
		return fmt.Errorf("read the provider's leases on chain (nothing was done): %w", err)
	}
	now := env.Now()

	var cands []candidate
	for _, l := range cs.leases {
		if _, live := ch.live[l.id]; live {
			continue
		}
		if o.teardown {
			cands = append(cands, candidate{verb: verbTeardown, lc: l})
			continue
		}
		env.Log.Warn().Str("lease", l.id.String()).Str("reason", "LeaseNotLiveOnChain").
			Msg("in the cluster but not active on chain (enable --teardown to remove it)")
	}
	states := map[string]int{}
	for _, l := range ch.live {
		states[l.State]++
	}
	var reported int
	for id, l := range ch.live {
		if l.State != chain.StateActive {
			continue // insufficient_funds and reclaiming: the chain settles them
		}
		inc := cs.leases[id]
		switch {
		case inc == nil && o.closeMissing:
			lease := l
			cands = append(cands, candidate{verb: verbClose, cl: &lease})
		case inc == nil:
			reported++
			env.Log.Warn().Str("lease", id.String()).Str("reason", "LeaseWithoutWorkload").
				Msg("active on chain with neither Manifest nor namespace here (enable --close-missing to close it)")
		case inc.manifest && !inc.namespace && o.closeNoWork:
			lease := l
			cands = append(cands, candidate{verb: verbClose, cl: &lease, lc: inc})
		case inc.manifest && !inc.namespace:
			reported++
			env.Log.Warn().Str("lease", id.String()).Str("reason", "LeaseWithoutNamespace").
				Msg("active on chain with a Manifest but no namespace; the provider may still deploy it")
		}
	}
	env.Log.Info().Int("cluster_leases", len(cs.leases)).Int("chain_live_leases", len(ch.live)).Int64("height", ch.height).
		Int("chain_active", states[chain.StateActive]).Int("chain_insufficient_funds", states[chain.StateInsufficientFunds]).
		Int("chain_reclaiming", states[chain.StateReclaiming]).
		Int("dangling", len(cands)).Int("reported", reported).Msg("observed")

	// The sanity limits: a short or empty chain answer must never look like
	// "everything is closed".
	limit := int(o.maxShare * float64(len(cs.leases)))
	if len(cands) > o.maxCount || (len(cs.leases) > 0 && len(cands) > max(limit, 1)) {
		return fmt.Errorf("%d of the cluster's %d leases look dangling (limits: --max-share=%v, --max-count=%d): "+
			"a chain answer this different from the cluster is more likely wrong than true; nothing was done", len(cands), len(cs.leases), o.maxShare, o.maxCount)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].id().String() < cands[j].id().String() })

	var teardowns, closes []actuator.Action
	closing := map[string]chain.Lease{}
	for _, c := range cands {
		id := c.id()
		a := actuator.Action{Verb: c.verb, Target: actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id.Namespace()}, Lease: id.String()}
		if c.lc != nil && !c.lc.namespace {
			a.Target = actuator.Ref{APIVersion: akash.GroupVersion.String(), Kind: "Manifest", Namespace: akash.LeaseNamespace, Name: id.Namespace()}
		}
		// Confirm by ID, just before acting.
		l, err := client.Lease(ctx, id)
		notFound := errors.Is(err, chain.ErrNotFound)
		if err != nil && !notFound {
			return fmt.Errorf("confirm lease %s on chain (nothing more was done): %w", id, err)
		}
		switch c.verb {
		case verbTeardown:
			a.Reason = "LeaseClosedOnChain"
			switch {
			case notFound:
				a.Message = "the chain does not know this lease: tearing down what the cluster holds of it"
				if age := now.Sub(c.lc.since); age < o.grace {
					a.Hold = fmt.Sprintf("its objects are %s old, less than --grace=%s", age.Round(time.Second), o.grace)
				}
			case l.State != chain.StateClosed:
				a.Hold = fmt.Sprintf("the chain says %s on a second look: left alone", l.State)
				a.Message = "not closed after all"
			default:
				closedAgo := time.Duration(ch.height-l.ClosedOn) * chain.BlockTime
				a.Message = fmt.Sprintf("closed on chain at height %d (%s ago, %s) but still here (namespace %v, Manifest %v, %d hosts, %d leased IPs): tearing down as the provider does",
					l.ClosedOn, closedAgo.Round(time.Second), l.Reason, c.lc.namespace, c.lc.manifest, c.lc.hosts, c.lc.ips)
				if closedAgo < o.grace {
					a.Hold = fmt.Sprintf("closed %s ago, less than --grace=%s: the provider goes first", closedAgo.Round(time.Second), o.grace)
				}
			}
			teardowns = append(teardowns, a)
		case verbClose:
			a.Reason = "LeaseWithoutWorkload"
			created := time.Duration(ch.height-l.CreatedAt) * chain.BlockTime
			a.Message = fmt.Sprintf("active on chain for %s with nothing of it in the cluster: closing the bid", created.Round(time.Second))
			switch {
			case notFound, err != nil:
				a.Hold = "gone from the chain on a second look"
			case l.State != chain.StateActive:
				a.Hold = fmt.Sprintf("the chain says %s on a second look", l.State)
			case created < o.manifestGrace:
				a.Hold = fmt.Sprintf("leased %s ago, less than --manifest-grace=%s: the tenant may not have sent the manifest yet", created.Round(time.Second), o.manifestGrace)
			}
			closing[id.String()] = l
			closes = append(closes, a)
		}
	}
	errTeardown := env.Actuator.Apply(ctx, teardowns, func(ctx context.Context, a actuator.Action) error {
		return teardown(ctx, env, a)
	})
	var errClose error
	if len(closes) > 0 {
		reason, _ := chain.ParseCloseReason(o.reason)
		errClose = env.Actuator.ApplyBatched(ctx, closes, 10, func(ctx context.Context, batch []actuator.Action) []actuator.BatchResult {
			var ls []chain.Lease
			for _, a := range batch {
				ls = append(ls, closing[a.Lease])
			}
			out := make([]actuator.BatchResult, len(batch))
			for i, r := range closer.Close(ctx, ls, reason) {
				out[i] = actuator.BatchResult{Err: r.Err, Fields: map[string]string{"backend": closer.Backend(), "tx_hash": r.TxHash}}
			}
			return out
		})
	}
	return errors.Join(errTeardown, errClose)
}

func (c candidate) id() akash.LeaseID {
	if c.lc != nil {
		return c.lc.id
	}
	return c.cl.ID
}

// teardown removes a lease's objects as the provider does: the namespace,
// the Manifest, the ProviderHosts and ProviderLeasedIPs. What is already
// gone is fine, so an interrupted run is completed by the next.
func teardown(ctx context.Context, env *job.Env, a actuator.Action) error {
	id, err := akash.ParseLeaseID(a.Lease)
	if err != nil {
		return err
	}
	ns := id.Namespace()
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	if err := env.Clients.Kube.CoreV1().Namespaces().Delete(ctx, ns, del); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns, err))
	}
	if err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Delete(ctx, ns, del); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete Manifest %s: %w", ns, err))
	}
	leaseLabels := id.Labels()
	delete(leaseLabels, akash.LabelNamespace)
	sel := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(leaseLabels).String()}
	if err := env.Clients.Dynamic.Resource(akash.ProviderHostsResource).Namespace(akash.LeaseNamespace).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete the lease's ProviderHosts: %w", err))
	}
	if err := env.Clients.Dynamic.Resource(akash.ProviderLeasedIPsResource).Namespace(akash.LeaseNamespace).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete the lease's ProviderLeasedIPs: %w", err))
	}
	return errors.Join(errs...)
}
