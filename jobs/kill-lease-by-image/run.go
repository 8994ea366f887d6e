package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

const verbClose = "close-lease"

func run(ctx context.Context, env *job.Env, o *options) error {
	if len(o.lists.Deny) == 0 {
		env.Log.Warn().Msg("no denylist (--deny, --deny-file): nothing to close; this job waits for its input")
		return nil
	}
	client, closer, err := setup(env, o)
	if err != nil {
		return err
	}
	leaseclose.LogNode(ctx, client, env.Log)
	obs, err := observe(ctx, env.Clients)
	if err != nil {
		return err
	}
	for _, err := range obs.invalid {
		env.Log.Warn().Err(err).Msg("a Manifest that does not parse is skipped")
	}
	denials, notes := plan(obs, o.lists, o.provider)
	for _, n := range notes {
		ev := env.Log.Warn().Err(n.err)
		if n.object != "" {
			ev = ev.Str("object", n.object)
		}
		if n.lease != "" {
			ev = ev.Str("lease", n.lease).Str("service", n.service)
		}
		ev.Msg(n.msg)
	}
	env.Log.Info().Int("manifests", len(obs.leases)).Int("leases_matching", len(denials)).Int("deny_entries", len(o.lists.Deny)).Msg("observed")

	// Confirm each on chain by ID just before acting: a lease already
	// closed, unknown, or in its reclamation window is left alone.
	var actions []actuator.Action
	leases := map[string]chain.Lease{}
	for _, d := range denials {
		id := d.id
		var why []string
		for _, m := range d.matches {
			why = append(why, m.String())
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
		}
		if deadline, in := l.InReclamationWindow(env.Now()); in { // l is zero when the chain does not know it
			a.Hold = "in its reclamation window; it cannot be closed before its deadline, " + chain.WindowText(deadline)
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
