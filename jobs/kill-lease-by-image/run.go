package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/job"
)

const verbClose = "close-lease"

// match is one service of a lease running a denied image.
type match struct {
	service, image, entry string
}

func run(ctx context.Context, env *job.Env, o *options) error {
	if len(o.lists.Deny) == 0 {
		env.Log.Warn().Msg("no denylist (--deny, --deny-file): nothing to close; this job waits for its input")
		return nil
	}
	client, closer, err := setup(env, o)
	if err != nil {
		return err
	}
	ml, err := akash.ListManifests(ctx, env.Clients.Dynamic, akash.LeaseNamespace, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list Manifests (nothing was closed): %w", err)
	}
	for _, err := range ml.Invalid {
		env.Log.Warn().Err(err).Msg("a Manifest that does not parse is skipped")
	}
	matches := map[akash.LeaseID][]match{}
	for _, m := range ml.Manifests {
		id, err := m.Spec.LeaseID.LeaseID()
		if err != nil {
			env.Log.Warn().Str("object", "Manifest/"+akash.LeaseNamespace+"/"+m.Name).Err(err).Msg("Manifest without a valid lease ID is skipped")
			continue
		}
		if id.Provider != o.provider {
			continue
		}
		for _, svc := range m.Spec.Group.Services {
			img, err := imagematch.ParseImage(svc.Image)
			if err != nil {
				env.Log.Warn().Str("lease", id.String()).Str("service", svc.Name).Err(err).Msg("service image does not parse; skipped")
				continue
			}
			if e, denied := o.lists.Denied(img); denied {
				matches[id] = append(matches[id], match{service: svc.Name, image: img.Normalized, entry: e.Text})
			}
		}
	}
	ids := make([]akash.LeaseID, 0, len(matches))
	for id := range matches {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	env.Log.Info().Int("manifests", len(ml.Manifests)).Int("leases_matching", len(ids)).Int("deny_entries", len(o.lists.Deny)).Msg("observed")

	// Confirm each on chain by ID just before acting: a lease already
	// closed, unknown, or in its reclamation window is left alone.
	var actions []actuator.Action
	leases := map[string]chain.Lease{}
	for _, id := range ids {
		var why []string
		for _, m := range matches[id] {
			why = append(why, fmt.Sprintf("service %s runs %s (denied by %q)", m.service, m.image, m.entry))
		}
		a := actuator.Action{
			Verb:    verbClose,
			Target:  actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id.Namespace()},
			Lease:   id.String(),
			Reason:  "DeniedImage",
			Message: "closing the lease: " + strings.Join(why, "; "),
		}
		l, err := client.Lease(ctx, id)
		switch {
		case errors.Is(err, chain.ErrNotFound):
			a.Hold = "the chain does not know this lease"
		case err != nil:
			return fmt.Errorf("confirm lease %s on chain (nothing was closed): %w", id, err)
		case l.State == chain.StateClosed:
			a.Hold = "already closed on chain (the provider will tear it down)"
		case l.State == chain.StateReclaiming:
			a.Hold = "in its reclamation window; it cannot be closed before its deadline"
		}
		leases[id.String()] = l
		actions = append(actions, a)
	}
	return env.Actuator.ApplyBatched(ctx, actions, o.batchSize, func(ctx context.Context, batch []actuator.Action) []actuator.BatchResult {
		var ls []chain.Lease
		for _, a := range batch {
			ls = append(ls, leases[a.Lease])
		}
		results := closer.Close(ctx, ls, o.reasonCode)
		out := make([]actuator.BatchResult, len(batch))
		for i, r := range results {
			out[i] = actuator.BatchResult{Err: r.Err, Fields: map[string]string{"backend": closer.Backend(), "tx_hash": r.TxHash}}
		}
		return out
	})
}
