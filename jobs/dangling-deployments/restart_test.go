package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus"
)

func TestPlanRestart(t *testing.T) {
	pod := actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "akash-services", Name: "akash-provider-0"}
	record := &cooldown.Record{Period: time.Hour, Flag: "--restart-cooldown"}
	status := func(leases, active, pending int) providerstatus.Status {
		return providerstatus.Status{Leases: leases, Active: active, Pending: pending, InventoryReady: true}
	}
	earlier := func(stale int) *gapSeen { return &gapSeen{At: planNow.Add(-15 * time.Minute), Stale: stale} }
	restarted := func(ago time.Duration) *cooldown.Taken {
		return &cooldown.Taken{At: planNow.Add(-ago), Job: "dangling-deployments"}
	}
	base := restartInput{mode: restartWhenLeaked, record: record, pod: pod, now: planNow}
	with := func(f func(*restartInput)) restartInput { in := base; f(&in); return in }
	for name, tc := range map[string]struct {
		in              restartInput
		reason, message string
		hold, finding   string
		note            *gapSeen
		keep            bool
	}{
		"in step": {in: with(func(in *restartInput) { in.status, in.manifests = status(5, 5, 0), 5 }), keep: true},
		"fewer than the Manifests (a lease not deployed yet)": {in: with(func(in *restartInput) { in.status, in.manifests = status(4, 4, 0), 5 }), keep: true},
		"holds the two this run tore down: certain, at once": {
			in:     with(func(in *restartInput) { in.status, in.manifests, in.manifestsGone = status(5, 5, 0), 3, 2 }),
			reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 2},
			message: "the provider counts 5 leases (5 reservations: 5 active, 0 pending) but the cluster holds 3 Manifests: it keeps the capacity of 2 leases " +
				"no longer here (ended on chain and torn down) until it restarts; deleting its pod so it starts again from the Manifests (running workloads are not touched)"},
		"a gap first seen now, not made by this run: confirmed first": {
			in:     with(func(in *restartInput) { in.status, in.manifests = status(4, 3, 1), 3 }),
			reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1},
			hold: "a gap of 1 lease first seen now: a run confirms it before the provider is restarted (a deploy in flight, or the provider's own teardown, shows one for a moment)"},
		"the gap an earlier run saw, confirmed": {
			in:     with(func(in *restartInput) { in.status, in.manifests, in.gap = status(4, 3, 1), 3, earlier(1) }),
			reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1}},
		"in the cool-down": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.manifestsGone = status(4, 4, 0), 3, 1
			in.lastRestart = restarted(10 * time.Minute)
			in.gap = &gapSeen{At: planNow.Add(-5 * time.Minute)}
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1},
			hold: "last done 10m0s ago (2026-12-02T11:50:00Z, by dangling-deployments), at most once per --restart-cooldown=1h0m0s: the next may be at 2026-12-02T12:50:00Z"},
		"the first look since a restart still finds a gap it did not make": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.gap = status(4, 3, 1), 3, earlier(1)
			in.lastRestart = restarted(2 * time.Hour)
			in.gap.At = planNow.Add(-121 * time.Minute)
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1, Ineffective: true},
			hold: "the restart at 2026-12-02T10:00:00Z did not give it back: the provider still holds 1 lease the cluster has no Manifest of " +
				"(Manifests being deleted, or with labels this job cannot read?); not restarted again until the gap closes once: look, and restart it by hand if need be"},
		"ineffective, and still": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.gap = status(4, 3, 1), 3, earlier(1)
			in.gap.Ineffective = true
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1, Ineffective: true}},
		"ineffective, but this run's own teardowns are certain": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.manifestsGone, in.gap = status(4, 4, 0), 3, 1, earlier(1)
			in.gap.Ineffective = true
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1}},
		"ended leases left for the next runs": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.manifestsGone, in.teardownsLeft = status(40, 40, 0), 32, 8, 12
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 8},
			hold: "12 leases ended on chain are left for the next runs (--max-actions): the provider is restarted once they are torn down, so that one restart gives all their capacity back"},
		"the record unreadable": {in: with(func(in *restartInput) {
			in.status, in.manifests, in.manifestsGone = status(4, 4, 0), 3, 1
			in.recordErr = errors.New("cool-down record akash-services/x is missing")
		}), reason: "ProviderHoldsEndedLeases", keep: true, note: &gapSeen{At: planNow, Stale: 1},
			hold: "the restart's record cannot be used, so the provider is not restarted: cool-down record akash-services/x is missing"},
		"status unreadable, Manifests removed": {in: with(func(in *restartInput) {
			in.statusErr, in.manifestsGone = errors.New("connection refused"), 2
		}), reason: "ProviderMissedTeardowns",
			message: "this run removed the Manifests of 2 leases the provider held, and it keeps their capacity until it restarts (its status cannot be read: connection refused); " +
				"deleting its pod so it starts again from the Manifests (running workloads are not touched)"},
		"status unreadable, nothing removed":  {in: with(func(in *restartInput) { in.statusErr = errors.New("connection refused") })},
		"no status asked, a Manifest removed": {in: with(func(in *restartInput) { in.statusErr, in.manifestsGone = errNoStatusURL, 1 }), reason: "ProviderMissedTeardowns"},
		"inventory not ready, a Manifest removed": {in: with(func(in *restartInput) {
			in.status, in.manifestsGone = providerstatus.Status{Leases: 9}, 1
		}), reason: "ProviderMissedTeardowns",
			message: "this run removed the Manifests of 1 lease the provider held, and it keeps their capacity until it restarts (its inventory is not ready yet " +
				"(it has just started), so its counts are not final); deleting its pod so it starts again from the Manifests (running workloads are not touched)"},
		"inventory not ready, nothing removed": {in: with(func(in *restartInput) { in.status = providerstatus.Status{Leases: 9} })},
		"never": {in: with(func(in *restartInput) {
			in.mode, in.status, in.manifests, in.manifestsGone = restartNever, status(4, 4, 0), 3, 1
		}),
			keep: true, note: &gapSeen{At: planNow, Stale: 1},
			finding: "; --restart-provider=never: restart it by hand (kubectl -n akash-services delete pod akash-provider-0)"},
	} {
		t.Run(name, func(t *testing.T) {
			a, f, note, keep := planRestart(tc.in)
			assert.Equal(t, tc.keep, keep, "the note is kept when the status tells")
			assert.Equal(t, tc.note, note)
			if tc.finding != "" {
				require.Nil(t, a)
				require.NotNil(t, f)
				assert.Equal(t, "ProviderHoldsEndedLeases", f.reason)
				assert.Contains(t, f.msg, tc.finding)
				return
			}
			assert.Nil(t, f)
			if tc.reason == "" {
				assert.Nil(t, a, "no restart")
				return
			}
			require.NotNil(t, a)
			assert.Equal(t, verbRestart, a.Verb)
			assert.Equal(t, pod, a.Target, "the Event goes on the provider's pod")
			assert.Equal(t, tc.reason, a.Reason)
			assert.NotEmpty(t, a.OwnLimit, "outside the teardowns' budget")
			if tc.message != "" {
				assert.Equal(t, tc.message, a.Message)
			}
			if name != "ineffective, and still" {
				assert.Equal(t, tc.hold, a.Hold)
			} else {
				assert.Contains(t, a.Hold, "did not give it back")
			}
		})
	}
}
