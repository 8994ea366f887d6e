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
	base := restartInput{mode: restartWhenLeaked, record: record, pod: pod, now: planNow}
	with := func(f func(*restartInput)) restartInput { in := base; f(&in); return in }
	for name, tc := range map[string]struct {
		in              restartInput
		reason, message string
		hold, finding   string
	}{
		"in step": {in: with(func(in *restartInput) { in.status, in.manifests = status(5, 5, 0), 5 })},
		"fewer than the Manifests (a lease not deployed yet)": {in: with(func(in *restartInput) { in.status, in.manifests = status(4, 4, 0), 5 })},
		"holds two gone": {in: with(func(in *restartInput) { in.status, in.manifests, in.tornDown = status(5, 3, 2), 3, 2 }),
			reason: "ProviderHoldsEndedLeases",
			message: "the provider counts 5 leases (5 reservations: 3 active, 2 pending) but the cluster holds 3 Manifests: it keeps the capacity of 2 leases " +
				"that are gone (ended on chain and torn down) until it restarts; deleting its pod so it starts again from the Manifests (running workloads are not touched)"},
		"holds them from an earlier run, nothing torn down now": {in: with(func(in *restartInput) { in.status, in.manifests = status(4, 3, 1), 3 }),
			reason: "ProviderHoldsEndedLeases"},
		"in the cool-down": {in: with(func(in *restartInput) {
			in.status, in.manifests = status(4, 3, 1), 3
			in.lastRestart = &cooldown.Taken{At: planNow.Add(-10 * time.Minute), Job: "dangling-deployments"}
		}), reason: "ProviderHoldsEndedLeases",
			hold: "last done 10m0s ago (2026-12-02T11:50:00Z, by dangling-deployments), at most once per --restart-cooldown=1h0m0s: the next may be at 2026-12-02T12:50:00Z"},
		"cool-down over": {in: with(func(in *restartInput) {
			in.status, in.manifests = status(4, 3, 1), 3
			in.lastRestart = &cooldown.Taken{At: planNow.Add(-2 * time.Hour)}
		}), reason: "ProviderHoldsEndedLeases"},
		"status unreadable, teardowns done": {in: with(func(in *restartInput) {
			in.statusErr, in.tornDown = errors.New("connection refused"), 2
		}), reason: "ProviderMissedTeardowns",
			message: "this run tore down 2 leases the provider did not, and it keeps their capacity until it restarts (its status cannot be read: connection refused); " +
				"deleting its pod so it starts again from the Manifests (running workloads are not touched)"},
		"status unreadable, nothing torn down": {in: with(func(in *restartInput) { in.statusErr = errors.New("connection refused") })},
		"no status asked, teardowns done":      {in: with(func(in *restartInput) { in.statusErr, in.tornDown = errNoStatusURL, 1 }), reason: "ProviderMissedTeardowns"},
		"inventory not ready: counts not final, teardowns decide": {in: with(func(in *restartInput) {
			in.status = providerstatus.Status{Leases: 9}
			in.tornDown = 1
		}), reason: "ProviderMissedTeardowns"},
		"inventory not ready, nothing torn down": {in: with(func(in *restartInput) { in.status = providerstatus.Status{Leases: 9} })},
		"never": {in: with(func(in *restartInput) { in.mode, in.status, in.manifests = restartNever, status(4, 3, 1), 3 }),
			finding: "; --restart-provider=never: restart it by hand (kubectl -n akash-services delete pod akash-provider-0)"},
	} {
		t.Run(name, func(t *testing.T) {
			a, f := planRestart(tc.in)
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
			assert.Equal(t, tc.hold, a.Hold)
		})
	}
}
