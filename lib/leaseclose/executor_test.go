package leaseclose

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/completion"
)

// dropping is a closer that loses the answer for one lease (as a buggy
// backend might): it closes them all and answers for all but the last.
type dropping struct{ Closer }

func (d dropping) Close(ctx context.Context, leases []chain.Lease, reason int32) []Result {
	r := d.Closer.Close(ctx, leases, reason)
	return r[:len(r)-1]
}

type executorWorld struct {
	ch     *chaintest.Chain
	closer *TxCloser
	leases []chain.Lease
}

func newExecutorWorld(t *testing.T, n int) executorWorld {
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New().WithReclamation()
	ch.AddAccount(key.Address)
	w := executorWorld{ch: ch, closer: &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: key,
		ChainID: chaintest.ChainID, GasPrices: "0.025uakt", BatchSize: 10, WaitTimeout: 5 * time.Second}}
	for i := 1; i <= n; i++ {
		l := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: uint64(i), GSeq: 1, OSeq: 1, Provider: key.Address}, State: chain.StateActive}
		ch.Put(l)
		w.leases = append(w.leases, l)
	}
	return w
}

func leaseActions(verb string, leases ...chain.Lease) []actuator.Action {
	var out []actuator.Action
	for _, l := range leases {
		out = append(out, actuator.Action{Verb: verb, Target: actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: l.ID.Namespace()},
			Lease: l.ID.String(), Reason: "Test", Message: "test", Payload: l})
	}
	return out
}

func auditLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		m := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// A closer that drops a result never has that lease audited as done.
func TestExecutorShortResultIsAFailure(t *testing.T) {
	w := newExecutorWorld(t, 3)
	var buf bytes.Buffer
	act := actuator.New(actuator.Options{MaxActions: 10, Log: zerolog.New(&buf)})
	exec := &Executor{Closer: dropping{w.closer}, Chain: w.closer.Chain, Reason: 10001}
	err := act.ApplyBatched(context.Background(), leaseActions(VerbClose, w.leases...), 10, exec.Batch)
	require.ErrorIs(t, err, actuator.ErrFailed)
	assert.Equal(t, actuator.Summary{Actions: 3, Done: 2, Failed: 1}, act.Summary())
	lines := auditLines(t, &buf)
	require.Len(t, lines, 3)
	assert.Equal(t, "failed", lines[2]["outcome"])
	assert.Contains(t, lines[2]["error"], "the tx closer gave 2 results for 3 leases and none for this one")
	assert.Equal(t, w.leases[2].ID.String(), lines[2]["lease"])
}

// Each lease is read again just before signing: one closed meanwhile, or
// gone, is skipped with the reason; the rest are closed in one transaction.
func TestExecutorConfirmsJustBeforeActing(t *testing.T) {
	w := newExecutorWorld(t, 3)
	planned := leaseActions(VerbClose, w.leases...)
	unknown := w.leases[0]
	unknown.ID.DSeq = 99
	planned = append(planned, leaseActions(VerbClose, unknown)...)
	w.ch.Close(w.leases[1].ID, "lease_closed_reason_unspecified") // by someone else, after the plan

	var buf bytes.Buffer
	act := actuator.New(actuator.Options{MaxActions: 10, Log: zerolog.New(&buf)})
	exec := &Executor{Closer: w.closer, Chain: w.closer.Chain, Reason: 10001}
	require.NoError(t, act.ApplyBatched(context.Background(), planned, 10, exec.Batch))
	assert.Equal(t, actuator.Summary{Actions: 4, Done: 2, Skipped: 2}, act.Summary())
	lines := auditLines(t, &buf)
	require.Len(t, lines, 4)
	assert.Equal(t, "done", lines[0]["outcome"])
	assert.Equal(t, "tx", lines[0]["backend"])
	assert.NotEmpty(t, lines[0]["tx_hash"])
	assert.Equal(t, "already closed on chain, on a second look just before acting", lines[1]["detail"])
	assert.Equal(t, "done", lines[2]["outcome"])
	assert.Equal(t, lines[0]["tx_hash"], lines[2]["tx_hash"], "one transaction")
	assert.Equal(t, "gone from the chain on a second look, just before acting", lines[3]["detail"])
	require.Len(t, w.ch.Applied(), 1)
	l, _ := w.ch.Get(w.leases[1].ID)
	assert.Equal(t, "lease_closed_reason_unspecified", l.Reason, "left as the other closer left it")

	// A payload that is not a lease is a planning bug: nothing is sent.
	bad := leaseActions(VerbClose, w.leases[2])
	bad[0].Payload = "akash1.../3/1/1/..."
	res := exec.Batch(context.Background(), bad)
	assert.ErrorContains(t, res[0].Err, "carries string, the executor wants chain.Lease")
}

// Reclamation (2.1): start-reclaim starts the window; a close planned on a
// lease whose window has not started is skipped, not sent.
func TestExecutorStartsReclamation(t *testing.T) {
	w := newExecutorWorld(t, 0)
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 5, GSeq: 1, OSeq: 1, Provider: w.closer.Provider()}
	l := chain.Lease{ID: id, State: chain.StateActive, Reclamation: &chain.Reclamation{Window: time.Hour}}
	w.ch.Put(l)
	exec := &Executor{Closer: w.closer, Chain: w.closer.Chain, Reason: 10001}
	var buf bytes.Buffer
	act := actuator.New(actuator.Options{MaxActions: 10, Log: zerolog.New(&buf)})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(buf.String())
		}
	})

	require.NoError(t, act.ApplyBatched(context.Background(), leaseActions(VerbClose, l), 10, exec.Batch))
	assert.Equal(t, 1, act.Summary().Skipped)
	assert.Empty(t, w.ch.Applied(), "nothing sent that the chain would refuse")

	require.NoError(t, act.ApplyBatched(context.Background(), leaseActions(VerbStartReclaim, l), 10, exec.Batch))
	got, _ := w.ch.Get(id)
	assert.Equal(t, chain.StateReclaiming, got.State)
	require.Len(t, w.ch.Applied(), 1)
	assert.Equal(t, []chain.BidID{chain.BidIDOf(l)}, w.ch.Applied()[0].Reclaiming)

	// Started once; a second start is skipped.
	require.NoError(t, act.ApplyBatched(context.Background(), leaseActions(VerbStartReclaim, l), 10, exec.Batch))
	assert.Equal(t, 2, act.Summary().Skipped)
}

// With a minimum completion rate, the closes past it are held with the
// reason, after the second look and before anything is signed; the rest
// are closed.
func TestExecutorHoldsClosesBelowTheCompletionRate(t *testing.T) {
	w := newExecutorWorld(t, 20)
	guard := &completion.Guard{Chain: w.closer.Chain, Provider: w.closer.Signer.Address, Window: 30 * 24 * time.Hour, Min: 0.9}
	exec := &Executor{Closer: w.closer, Chain: w.closer.Chain, Reason: 10002, Completion: guard}
	res := exec.Batch(context.Background(), leaseActions(VerbClose, w.leases[:4]...))
	require.Len(t, res, 4)
	// 20 leases: two closes leave 0.9.
	assert.NoError(t, res[0].Err)
	assert.NoError(t, res[1].Err)
	for _, r := range res[2:] {
		assert.ErrorContains(t, r.Err, "the lease completion rate would fall below --min-completion-rate=0.9: 2 of the 20 leases")
	}
	closed := 0
	for _, l := range w.leases {
		if got, _ := w.ch.Get(l.ID); got.State == chain.StateClosed {
			closed++
		}
	}
	assert.Equal(t, 2, closed)
}
