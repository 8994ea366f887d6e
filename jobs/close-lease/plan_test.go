package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 7, GSeq: 1, OSeq: 1, Provider: "akash174yssdm075y6jm8679dkmexec8jaxgt7pdsml5"}
	window := func(started int64, deadline time.Time) *chain.Reclamation {
		return &chain.Reclamation{Window: time.Hour, StartedAt: started, Deadline: deadline}
	}
	for name, tc := range map[string]struct {
		lease        chain.Lease
		startReclaim bool
		verb, hold   string
	}{
		"active": {lease: chain.Lease{ID: id, State: chain.StateActive}, verb: "close-lease"},
		"closed": {lease: chain.Lease{ID: id, State: chain.StateClosed}, verb: "close-lease", hold: "already closed on chain"},
		// node x/market/handler/server.go CloseBid: an ended lease is
		// refused (market code 10), whichever way it ended.
		"ended for insufficient funds": {lease: chain.Lease{ID: id, State: chain.StateInsufficientFunds, Reason: chain.ReasonInsufficientFunds}, verb: "close-lease",
			hold: "already ended on chain (insufficient_funds): the chain refuses to close it again"},
		"in window": {lease: chain.Lease{ID: id, State: chain.StateReclaiming, Reclamation: window(10, now.Add(time.Minute))}, verb: "close-lease",
			hold: "in its reclamation window until 2026-12-02T12:01:00Z"},
		"past the deadline": {lease: chain.Lease{ID: id, State: chain.StateReclaiming, Reclamation: window(10, now.Add(-time.Minute))}, verb: "close-lease"},
		"window not started": {lease: chain.Lease{ID: id, State: chain.StateActive, Reclamation: window(0, time.Time{})}, verb: "close-lease",
			hold: "its reclamation window (1h0m0s) has not started: the chain refuses the close; start it with --start-reclaim, then close after the deadline"},
		"window not started, --start-reclaim": {lease: chain.Lease{ID: id, State: chain.StateActive, Reclamation: window(0, time.Time{})}, startReclaim: true, verb: "start-reclaim"},
	} {
		t.Run(name, func(t *testing.T) {
			a := plan(tc.lease, now, "lease_closed_reason_unspecified", tc.startReclaim)
			assert.Equal(t, tc.verb, a.Verb)
			assert.Equal(t, tc.hold, a.Hold)
			assert.Equal(t, tc.lease, a.Payload)
			assert.Equal(t, id.String(), a.Lease)
		})
	}
}
