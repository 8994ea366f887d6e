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
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

// observed is what a run reads: the cluster's leases, the provider's live
// leases on chain, and the cluster's leases the chain does not list as
// live, each read by ID.
type observed struct {
	cluster clusterState
	chain   chainState
	looked  map[akash.LeaseID]lookup
}

// lookup is a lease read by ID.
type lookup struct {
	found bool
	lease chain.Lease
}

// observe reads the cluster and the chain. It reads the suspects by ID only
// when teardown is on and they are within the sanity limits (more would be
// refused by the plan anyway, so a broken chain answer costs no requests).
func observe(ctx context.Context, env *job.Env, client *chain.Client, provider string, o planOptions) (observed, error) {
	var obs observed
	var err error
	if obs.cluster, err = observeCluster(ctx, env, provider); err != nil {
		return obs, fmt.Errorf("observe the cluster (nothing was done): %w", err)
	}
	if obs.chain, err = observeChain(ctx, client, provider, env.Log); err != nil {
		return obs, fmt.Errorf("read the provider's leases on chain (nothing was done): %w", err)
	}
	obs.looked = map[akash.LeaseID]lookup{}
	ids := suspects(obs.cluster, obs.chain)
	if !o.teardown || withinLimits(len(ids), len(obs.cluster.leases), o) != nil {
		return obs, nil
	}
	for _, id := range ids {
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

// observeCluster reads, with metadata-only LISTs, the namespaces, Manifests,
// ProviderHosts and ProviderLeasedIPs that carry lease labels, of this
// provider.
func observeCluster(ctx context.Context, env *job.Env, provider string) (clusterState, error) {
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
	if err := each("Manifest", akash.ManifestsResource, akash.LeaseNamespace, func(l *inCluster) { l.manifest = true }); err != nil {
		return st, err
	}
	if err := each("ProviderHost", akash.ProviderHostsResource, akash.LeaseNamespace, func(l *inCluster) { l.hosts++ }); err != nil {
		return st, err
	}
	if err := each("ProviderLeasedIP", akash.ProviderLeasedIPsResource, akash.LeaseNamespace, func(l *inCluster) { l.ips++ }); err != nil {
		return st, err
	}
	return st, nil
}

// chainState is the provider's live leases on chain.
type chainState struct {
	live   map[akash.LeaseID]chain.Lease // active, insufficient_funds, reclaiming
	height int64
}

func observeChain(ctx context.Context, c *chain.Client, provider string, log zerolog.Logger) (chainState, error) {
	st := chainState{}
	leaseclose.LogNode(ctx, c, log) // the listings below say what the node knows anyway
	live, unknown, err := c.LeasesByState(ctx, provider, chain.StateActive, chain.StateInsufficientFunds, chain.StateReclaiming)
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
	h, err := c.LatestHeight(ctx)
	if err != nil {
		return st, err
	}
	st.height = h
	return st, nil
}
