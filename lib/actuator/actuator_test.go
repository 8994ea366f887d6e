package actuator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recordedEvent struct {
	verb    string
	outcome Outcome
}

type fakeSink struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (f *fakeSink) Record(_ context.Context, a Action, o Outcome, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, recordedEvent{a.Verb, o})
	return nil
}

func actions(n int) []Action {
	out := make([]Action, n)
	for i := range out {
		out[i] = Action{
			Verb:    "delete-replicaset",
			Target:  Ref{Kind: "ReplicaSet", Namespace: "ns", Name: string(rune('a' + i))},
			Lease:   "akash1o/1/1/1/akash1p",
			Reason:  "RolloutStuck",
			Message: "stuck",
		}
	}
	return out
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

func TestApplyBudgetAndEvents(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 2, Events: sink, Log: zerolog.New(&buf)})
	var did []string
	err := a.Apply(context.Background(), actions(3), func(_ context.Context, act Action) error {
		did = append(did, act.Target.Name)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, did, "only the budget is carried out, in plan order")
	assert.Equal(t, Summary{Actions: 3, Done: 2, Skipped: 1}, a.Summary())
	assert.Equal(t, []recordedEvent{{"delete-replicaset", Done}, {"delete-replicaset", Done}}, sink.events)

	logged := lines(t, &buf)
	require.Len(t, logged, 3, "one audit line per action")
	for _, l := range logged {
		assert.Equal(t, "delete-replicaset", l["action"])
		assert.Equal(t, "akash1o/1/1/1/akash1p", l["lease"])
		assert.Equal(t, "ns", l["namespace"])
		assert.Equal(t, "RolloutStuck", l["reason"])
		assert.Equal(t, false, l["dry_run"])
	}
	assert.Equal(t, "skipped", logged[2]["outcome"])
	assert.Contains(t, logged[2]["detail"], "--max-actions")
}

// A lease closed by its Namespace: the line's namespace is that one, so
// `jq 'select(.namespace == "<lease namespace>")'` finds the close too; a
// cluster-scoped object of another kind has no namespace field at all.
func TestAuditLineNamesANamespaceTarget(t *testing.T) {
	var buf bytes.Buffer
	a := New(Options{MaxActions: 5, Events: &fakeSink{}, Log: zerolog.New(&buf)})
	plan := []Action{
		{Verb: "close-lease", Target: Ref{APIVersion: "v1", Kind: "Namespace", Name: "h7k2"}, Lease: "akash1o/1/1/1/akash1p", Reason: "DeniedImage"},
		{Verb: "label-node", Target: Ref{APIVersion: "v1", Kind: "Node", Name: "worker-1"}, Reason: "GPUMissing"},
	}
	require.NoError(t, a.Apply(context.Background(), plan, func(context.Context, Action) error { return nil }))
	logged := lines(t, &buf)
	require.Len(t, logged, 2)
	assert.Equal(t, "h7k2", logged[0]["namespace"])
	assert.NotContains(t, logged[1], "namespace")
}

func TestApplyDryRunChangesNothing(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{DryRun: true, MaxActions: 10, Events: sink, Log: zerolog.New(&buf)})
	err := a.Apply(context.Background(), actions(2), func(context.Context, Action) error {
		t.Fatal("dry-run must not execute")
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, sink.events, "dry-run records no Events")
	assert.Equal(t, Summary{Actions: 2, Planned: 2}, a.Summary(), "planned, never done: nothing was")
	for _, l := range lines(t, &buf) {
		assert.Equal(t, true, l["dry_run"])
		assert.Equal(t, "planned", l["outcome"])
	}
}

func TestApplyDryRunKeepsBudget(t *testing.T) {
	a := New(Options{DryRun: true, MaxActions: 1, Log: zerolog.Nop()})
	require.NoError(t, a.Apply(context.Background(), actions(3), nil))
	assert.Equal(t, Summary{Actions: 3, Planned: 1, Skipped: 2}, a.Summary(), "dry-run shows what a real run would do, budget included")
}

func TestApplyFailureContinuesAndCounts(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 2, Events: sink, Log: zerolog.New(&buf)})
	err := a.Apply(context.Background(), actions(3), func(_ context.Context, act Action) error {
		if act.Target.Name == "a" {
			return errors.New("forbidden")
		}
		return nil
	})
	require.ErrorIs(t, err, ErrFailed)
	assert.Equal(t, Summary{Actions: 3, Done: 1, Failed: 1, Skipped: 1}, a.Summary(), "a failed action uses budget")
	assert.Equal(t, []recordedEvent{{"delete-replicaset", Failed}, {"delete-replicaset", Done}}, sink.events)
	first := lines(t, &buf)[0]
	assert.Equal(t, "error", first["level"])
	assert.Equal(t, "forbidden", first["error"])
}

func TestApplyHoldAndCancel(t *testing.T) {
	acts := actions(3)
	acts[0].Hold = "stuck for 1m, less than --min-stuck 5m"
	ctx, cancel := context.WithCancel(context.Background())
	a := New(Options{MaxActions: 10, Log: zerolog.Nop()})
	var did []string
	err := a.Apply(ctx, acts, func(_ context.Context, act Action) error {
		did = append(did, act.Target.Name)
		cancel()
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, did, "held actions are not done; nothing runs after the run is stopped")
	assert.Equal(t, Summary{Actions: 3, Done: 1, Skipped: 2}, a.Summary())
}

func TestLogSummary(t *testing.T) {
	var buf bytes.Buffer
	a := New(Options{MaxActions: 1, Log: zerolog.Nop()})
	require.NoError(t, a.Apply(context.Background(), actions(2), func(context.Context, Action) error { return nil }))
	a.LogSummary(zerolog.New(&buf), 0, nil)
	l := lines(t, &buf)[0]
	assert.Equal(t, "run summary", l["message"])
	assert.EqualValues(t, 2, l["actions"])
	assert.EqualValues(t, 0, l["planned"], "planned is a dry-run word")
	assert.EqualValues(t, 1, l["done"])
	assert.EqualValues(t, 1, l["skipped"])
	assert.EqualValues(t, 0, l["failed"])
}

func TestApplyParallelRunsTogetherWithinTheBudget(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 3, Events: sink, Log: zerolog.New(zerolog.SyncWriter(&buf))})
	var started atomic.Int32
	all := make(chan struct{})
	err := a.ApplyParallel(context.Background(), actions(5), func(ctx context.Context, act Action) error {
		if started.Add(1) == 3 {
			close(all)
		}
		select { // each waits for the others: only parallel actions get through
		case <-all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the actions did not run at the same time")
		}
	}, 5)
	require.NoError(t, err)
	assert.Equal(t, int32(3), started.Load(), "the budget holds while actions run at once")
	assert.Equal(t, Summary{Actions: 5, Done: 3, Skipped: 2}, a.Summary())
	assert.Len(t, sink.events, 3)
}

func TestPassesHaveTheirOwnBudgetAndAddUp(t *testing.T) {
	var buf bytes.Buffer
	run := New(Options{MaxActions: 1, Log: zerolog.New(&buf)})
	for i := 0; i < 2; i++ {
		pass := run.Pass()
		require.NoError(t, pass.Apply(context.Background(), actions(2), func(context.Context, Action) error { return nil }))
		assert.Equal(t, Summary{Actions: 2, Done: 1, Skipped: 1}, pass.Summary())
		pass.LogSummary(zerolog.New(&buf), time.Second, nil)
	}
	assert.Equal(t, Summary{Actions: 4, Done: 2, Skipped: 2}, run.Summary())
	ls := lines(t, &buf)
	assert.Equal(t, "pass summary", ls[len(ls)-1]["message"])
}

func TestReportLogsFindingsAndRecordsWarnings(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 0, Events: sink, Log: zerolog.New(&buf)})
	a.Report(context.Background(), []Action{
		{Verb: "gpu-not-allocatable", Target: Ref{Kind: "Node", Name: "gpu-1"}, Reason: "GPUNotAllocatable", Message: "labels say 8 GPUs"},
	})
	assert.Equal(t, 1, a.Summary().Findings)
	assert.Equal(t, []recordedEvent{{"gpu-not-allocatable", Found}}, sink.events, "a finding needs no budget")
	l := lines(t, &buf)[0]
	assert.Equal(t, "warn", l["level"])
	assert.Equal(t, "gpu-not-allocatable", l["finding"])
	assert.Equal(t, "Node/gpu-1", l["object"])

	dry := New(Options{DryRun: true, Events: sink, Log: zerolog.New(&buf)})
	dry.Report(context.Background(), []Action{{Verb: "x", Target: Ref{Kind: "Node", Name: "n"}}})
	assert.Len(t, sink.events, 1, "dry-run records no Event")
}

func TestApplyBatchedWithinTheBudget(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 4, Events: sink, Log: zerolog.New(&buf)})
	acts := actions(6)
	acts[1].Hold = "too young"
	var batches [][]string
	err := a.ApplyBatched(context.Background(), acts, 2, func(_ context.Context, batch []Action) []BatchResult {
		var names []string
		for _, b := range batch {
			names = append(names, b.Target.Name)
		}
		batches = append(batches, names)
		res := make([]BatchResult, len(batch))
		for i := range res {
			res[i].Fields = map[string]string{"tx_hash": fmt.Sprintf("TX%d", len(batches))}
		}
		if len(batches) == 2 {
			res[1].Err = errors.New("refused")
		}
		return res
	})
	require.ErrorIs(t, err, ErrFailed)
	assert.Equal(t, [][]string{{"a", "c"}, {"d", "e"}}, batches, "held b skipped; f past the budget of 4")
	assert.Equal(t, Summary{Actions: 6, Done: 3, Skipped: 2, Failed: 1}, a.Summary())
	assert.Len(t, sink.events, 4)
	ls := lines(t, &buf)
	assert.Len(t, ls, 6, "one audit line per action")
	for _, l := range ls {
		if l["object"] == "ReplicaSet/ns/a" {
			assert.Equal(t, "TX1", l["tx_hash"], "the executor's fields are on the line")
		}
	}
}

// An executor that finds, just before acting, that what the plan relied on
// no longer holds skips the action: counted and audited as skipped with its
// reason, no Event, and its share of the budget given back.
func TestExecutorSkipGivesTheBudgetBack(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	a := New(Options{MaxActions: 1, Events: sink, Log: zerolog.New(&buf)})
	calls := 0
	err := a.Apply(context.Background(), actions(2), func(_ context.Context, act Action) error {
		calls++
		if calls == 1 {
			return Skip("lease %s closed meanwhile", act.Lease)
		}
		return nil
	})
	require.NoError(t, err, "a skip is no failure")
	assert.Equal(t, 2, calls, "the skipped action used none of the budget")
	assert.Equal(t, Summary{Actions: 2, Done: 1, Skipped: 1}, a.Summary())
	assert.Equal(t, []recordedEvent{{"delete-replicaset", Done}}, sink.events, "no Event for the skipped one")
	l := lines(t, &buf)
	require.Len(t, l, 2)
	assert.Equal(t, "skipped", l[0]["outcome"])
	assert.Equal(t, "lease akash1o/1/1/1/akash1p closed meanwhile", l[0]["detail"])
	assert.Nil(t, l[0]["error"])

	// In a batch, the same.
	buf.Reset()
	b := New(Options{MaxActions: 5, Log: zerolog.New(&buf)})
	err = b.ApplyBatched(context.Background(), actions(3), 3, func(_ context.Context, batch []Action) []BatchResult {
		return []BatchResult{{}, {Err: Skip("gone")}, {Err: errors.New("refused")}}
	})
	require.ErrorIs(t, err, ErrFailed)
	assert.Equal(t, Summary{Actions: 3, Done: 1, Skipped: 1, Failed: 1}, b.Summary())
}

// An executor reads what the plan decided from the action itself.
func TestPayloadOf(t *testing.T) {
	type lease struct{ dseq uint64 }
	act := Action{Verb: "close-lease", Target: Ref{Kind: "Namespace", Name: "abc"}, Payload: lease{42}}
	got, err := PayloadOf[lease](act)
	require.NoError(t, err)
	assert.Equal(t, lease{42}, got)
	_, err = PayloadOf[string](act)
	assert.ErrorContains(t, err, "action close-lease on Namespace/abc carries actuator.lease, the executor wants string")
	_, err = PayloadOf[lease](Action{Verb: "close-lease"})
	assert.ErrorContains(t, err, "carries <nil>")
}

// A paused run plans and logs every action as held with the pause's
// reason, carries none out and records no Event; each pass of a long-running
// job asks again.
func TestPauseHoldsEveryAction(t *testing.T) {
	var buf bytes.Buffer
	sink := &fakeSink{}
	reason := "paused: ConfigMap akash-services/akash-janitor-pause is there (node maintenance)"
	a := New(Options{MaxActions: 10, Events: sink, Log: zerolog.New(&buf), Pause: func() string { return reason }})
	assert.Equal(t, reason, a.Paused())
	err := a.Apply(context.Background(), actions(2), func(context.Context, Action) error {
		t.Fatal("a paused run carries nothing out")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, Summary{Actions: 2, Skipped: 2}, a.Summary())
	assert.Empty(t, sink.events)
	l := lines(t, &buf)
	require.Len(t, l, 3)
	assert.Equal(t, "held: every action is held, nothing is changed", l[0]["message"])
	assert.Equal(t, reason, l[0]["reason"])
	for _, audit := range l[1:] {
		assert.Equal(t, "skipped", audit["outcome"])
		assert.Equal(t, reason, audit["detail"])
		assert.Equal(t, "akash1o/1/1/1/akash1p", audit["lease"])
	}

	reason = ""
	pass := a.Pass()
	assert.Empty(t, pass.Paused(), "the switch is asked again for each pass")
	done := 0
	require.NoError(t, pass.Apply(context.Background(), actions(1), func(context.Context, Action) error { done++; return nil }))
	assert.Equal(t, 1, done)
}

// An action with a limit of its own is not crowded out by the run's
// budget, uses none of it, and is held, dry-run and audited as any.
func TestOwnLimitIsOutsideTheBudget(t *testing.T) {
	restart := Action{Verb: "restart-provider", Target: Ref{Kind: "Pod", Namespace: "akash-services", Name: "akash-provider-0"},
		Reason: "ProviderHoldsEndedLeases", Message: "restart", OwnLimit: "one a run, once an hour"}
	var buf bytes.Buffer
	a := New(Options{MaxActions: 2, Log: zerolog.New(&buf)})
	var did []string
	do := func(_ context.Context, act Action) error { did = append(did, act.Verb+" "+act.Target.Name); return nil }
	require.NoError(t, a.Apply(context.Background(), actions(3), do))
	require.NoError(t, a.Apply(context.Background(), []Action{restart}, do))
	assert.Equal(t, []string{"delete-replicaset a", "delete-replicaset b", "restart-provider akash-provider-0"}, did)
	assert.Equal(t, Summary{Actions: 4, Done: 3, Skipped: 1}, a.Summary())

	// Its own action first: the budget is still whole for the rest.
	did = nil
	b := New(Options{MaxActions: 2, Log: zerolog.New(&buf)})
	require.NoError(t, b.Apply(context.Background(), append([]Action{restart}, actions(3)...), do))
	assert.Equal(t, []string{"restart-provider akash-provider-0", "delete-replicaset a", "delete-replicaset b"}, did)
	// Skipped by its executor: still none of the budget used.
	did = nil
	c := New(Options{MaxActions: 1, Log: zerolog.New(&buf)})
	require.NoError(t, c.Apply(context.Background(), []Action{restart}, func(context.Context, Action) error { return Skip("cooling down") }))
	require.NoError(t, c.Apply(context.Background(), actions(2), do))
	assert.Equal(t, []string{"delete-replicaset a"}, did)

	buf.Reset()
	d := New(Options{MaxActions: 1, DryRun: true, Log: zerolog.New(&buf)})
	held := restart
	held.Hold = "cooling down"
	require.NoError(t, d.Apply(context.Background(), append(actions(1), restart, held), do))
	l := lines(t, &buf)
	require.Len(t, l, 3)
	assert.Equal(t, "planned", l[1]["outcome"], "dry-run: planned beside the budget")
	assert.Equal(t, "skipped", l[2]["outcome"])
	assert.Equal(t, "cooling down", l[2]["detail"])

	// --max-actions=0: nothing at all.
	did = nil
	buf.Reset()
	e := New(Options{MaxActions: 0, Log: zerolog.New(&buf)})
	require.NoError(t, e.Apply(context.Background(), []Action{restart}, do))
	assert.Empty(t, did)
	assert.Equal(t, "budget of 0 actions per run (--max-actions): nothing is done", lines(t, &buf)[0]["detail"])
}

// A run acts unless it is a dry run or held by the pause.
func TestActing(t *testing.T) {
	assert.True(t, New(Options{MaxActions: 1}).Acting())
	assert.False(t, New(Options{MaxActions: 1, DryRun: true}).Acting())
	assert.False(t, New(Options{MaxActions: 1, Pause: func() string { return "paused: maintenance" }}).Acting())
}
