package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus"
)

// observed is what a run reads: the cluster's leases, the provider's live
// leases on chain, the cluster's leases the chain does not list as live,
// each read by ID, and what the provider says of itself.
type observed struct {
	cluster clusterState
	chain   chainState
	looked  map[akash.LeaseID]lookup
	// status is the provider's, when statusErr is nil.
	status    providerstatus.Status
	statusErr error
	// lastRestart is when the provider was last restarted (nil: never),
	// and gap what an earlier run saw of its gap (nil: none), if the
	// record could be read (else recordErr).
	lastRestart *cooldown.Taken
	gap         *gapSeen
	recordErr   error
}

// endedCount is how many of the leases read by ID the chain says ended.
func (o observed) endedCount() int {
	n := 0
	for _, l := range o.looked {
		if l.found && l.lease.Ended() {
			n++
		}
	}
	return n
}

// lookup is a lease read by ID.
type lookup struct {
	found bool
	lease chain.Lease
}

// observe reads the cluster, the chain, and the provider. With teardown
// on it reads every suspect by ID: a lease the chain says ended is
// evidence, whatever the share of such leases, so they are all looked at
// (one request each; a cluster holds hundreds of leases, not more).
func observe(ctx context.Context, env *job.Env, client *chain.Client, provider string, o planOptions, r *restarter) (observed, error) {
	var obs observed
	var err error
	if obs.cluster, err = observeCluster(ctx, env, provider, o.manifestNS); err != nil {
		return obs, fmt.Errorf("observe the cluster (nothing was done): %w", err)
	}
	if obs.chain, err = observeChain(ctx, client, provider, env.Log); err != nil {
		return obs, fmt.Errorf("read the provider's leases on chain (nothing was done): %w", err)
	}
	r.observe(ctx, &obs, provider)
	obs.looked = map[akash.LeaseID]lookup{}
	if !o.teardown {
		return obs, nil
	}
	for _, id := range suspects(obs.cluster, obs.chain) {
		l, err := client.Lease(ctx, id)
		switch {
		case errors.Is(err, chain.ErrNotFound):
			obs.looked[id] = lookup{}
		case err != nil:
			return obs, fmt.Errorf("read lease %s on chain (nothing was done): %w", id, err)
		default:
			obs.looked[id] = lookup{found: true, lease: l}
		}
	}
	return obs, nil
}

// inCluster is what the cluster holds of one lease.
type inCluster struct {
	id        akash.LeaseID
	namespace bool
	manifest  bool
	hosts     int
	ips       int
	// since is when the oldest of its objects was made.
	since time.Time
}

type clusterState struct {
	leases map[akash.LeaseID]*inCluster
	broken []string // objects whose lease labels do not parse
}

// manifests is how many of the leases have a Manifest: what the provider
// rebuilds its deployment managers from when it starts.
func (cs clusterState) manifests() int {
	n := 0
	for _, l := range cs.leases {
		if l.manifest {
			n++
		}
	}
	return n
}

// observeCluster reads, with metadata-only LISTs, the namespaces, Manifests,
// ProviderHosts and ProviderLeasedIPs that carry lease labels, of this
// provider.
func observeCluster(ctx context.Context, env *job.Env, provider, manifestNS string) (clusterState, error) {
	st := clusterState{leases: map[akash.LeaseID]*inCluster{}}
	sel := metav1.ListOptions{LabelSelector: akash.LabelLeaseProvider + "=" + provider}
	page := env.Common.PageSize
	// Each object is folded into its lease as its page is read: only the
	// small per-lease records stay.
	each := func(kind string, gvr schema.GroupVersionResource, namespace string, mark func(*inCluster)) error {
		return kube.EachMetadata(ctx, env.Clients.Metadata, gvr, namespace, page, sel, func(it *metav1.PartialObjectMetadata) error {
			if it.DeletionTimestamp != nil {
				return nil // on its way out already
			}
			id, err := akash.LeaseIDFromLabels(it.Labels)
			if err != nil {
				st.broken = append(st.broken, fmt.Sprintf("%s %s/%s: %v", kind, it.Namespace, it.Name, err))
				return nil
			}
			l := st.leases[id]
			if l == nil {
				l = &inCluster{id: id, since: it.CreationTimestamp.Time}
				st.leases[id] = l
			}
			if it.CreationTimestamp.Time.Before(l.since) {
				l.since = it.CreationTimestamp.Time
			}
			mark(l)
			return nil
		})
	}
	if err := each("Namespace", corev1.SchemeGroupVersion.WithResource("namespaces"), "", func(l *inCluster) { l.namespace = true }); err != nil {
		return st, err
	}
	if err := each("Manifest", akash.ManifestsResource, manifestNS, func(l *inCluster) { l.manifest = true }); err != nil {
		return st, err
	}
	if err := each("ProviderHost", akash.ProviderHostsResource, manifestNS, func(l *inCluster) { l.hosts++ }); err != nil {
		return st, err
	}
	if err := each("ProviderLeasedIP", akash.ProviderLeasedIPsResource, manifestNS, func(l *inCluster) { l.ips++ }); err != nil {
		return st, err
	}
	return st, nil
}

// chainState is the provider's live leases on chain.
type chainState struct {
	live  map[akash.LeaseID]chain.Lease // active, reclaiming
	clock chain.Clock
}

// count is how many live leases are in the state.
func (cs chainState) count(state string) int {
	n := 0
	for _, l := range cs.live {
		if l.State == state {
			n++
		}
	}
	return n
}

// observeChain lists the provider's live leases: active and reclaiming.
// Ended leases (closed, insufficient_funds) are not listed: the chain
// keeps every lease a provider ever had, so those lists only grow; the
// cluster's leases missing from the live ones are read by ID instead.
func observeChain(ctx context.Context, c *chain.Client, provider string, log zerolog.Logger) (chainState, error) {
	st := chainState{}
	live, unknown, err := c.LeasesByState(ctx, provider, chain.StateActive, chain.StateReclaiming)
	if err != nil {
		return st, err
	}
	if len(unknown) > 0 {
		// A node before lease reclamation (2.1) has no reclaiming leases
		// and refuses the filter; any other state refused is an error,
		// never an empty list.
		log.Debug().Strs("states", unknown).Msg("the node knows no reclaiming state: no lease is reclaiming")
	}
	st.live = live
	// Ages are measured in the chain's time: its latest block and the
	// pace of its recent ones.
	if st.clock, err = c.Clock(ctx); err != nil {
		return st, err
	}
	return st, nil
}
