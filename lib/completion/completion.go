// Package completion measures a provider's lease completion rate as AEP-86
// (Provider Verifications, a draft of 2026-04) defines it, and holds lease
// closes that would bring it below a minimum.
//
// AEP-86 (spec/aep-86 IMPLEMENTATION.md, LeaseStats) counts, over a
// lookback window, all the provider's leases and those it terminated:
// rate = (total - terminated by provider) / total, checked against 98%
// (9800 basis points) for tiers L3 and L4, and not checked at all below
// 10 leases. Only provider-initiated closes count as terminated: the
// provider's close reasons (chain-sdk akash/market/v1 types.proto
// LeaseClosedReason 10000-19999); a tenant's close (lease_closed_owner)
// and the chain's end for insufficient funds (20000) count as completed.
// The draft names no window length: the leases "in the window" are read
// here as those live at any time in it, the live ones and those that
// ended within it.
package completion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// MinLeases is the fewest leases AEP-86 checks the rate on
// (min_leases_for_completion_rate): below it, no hold.
const MinLeases = 10

// Terminated tells whether the lease ended as a close by its provider: a
// closed lease whose reason is the provider's (10000-19999), not the
// tenant's nor the chain's for insufficient funds.
func Terminated(l chain.Lease) bool {
	return l.State == chain.StateClosed && strings.HasPrefix(l.Reason, "lease_closed_reason_") && l.Reason != chain.ReasonInsufficientFunds
}

// Stats are the leases in a window and those the provider terminated.
type Stats struct {
	Window     time.Duration
	Total      int
	Terminated int
}

// Rate is the completion rate, 1 with no lease.
func (s Stats) Rate() float64 {
	if s.Total == 0 {
		return 1
	}
	return float64(s.Total-s.Terminated) / float64(s.Total)
}

// Of counts the leases in the window ending at the clock's latest block:
// every live one, and those that ended within it.
func Of(leases []chain.Lease, clock chain.Clock, window time.Duration) Stats {
	s := Stats{Window: window}
	for _, l := range leases {
		if !l.Live() && clock.Age(l.ClosedOn) >= window {
			continue
		}
		s.Total++
		if Terminated(l) && clock.Age(l.ClosedOn) < window {
			s.Terminated++
		}
	}
	return s
}

// Read lists the provider's leases of every state, one listing per state
// (the closed ones are its whole history: the cost of this measure), and
// counts those in the window.
func Read(ctx context.Context, c *chain.Client, provider string, window time.Duration) (Stats, error) {
	clock, err := c.Clock(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("measure the completion rate: %w", err)
	}
	leases, _, err := c.LeasesByState(ctx, provider, chain.StateActive, chain.StateReclaiming, chain.StateClosed, chain.StateInsufficientFunds)
	if err != nil {
		return Stats{}, fmt.Errorf("measure the completion rate: %w", err)
	}
	all := make([]chain.Lease, 0, len(leases))
	for _, l := range leases {
		all = append(all, l)
	}
	return Of(all, clock, window), nil
}

// Guard holds lease closes that would bring the completion rate below Min.
// It reads the rate once, at the first close it is asked about, and counts
// every close it grants after that.
type Guard struct {
	Chain    *chain.Client
	Provider string
	Window   time.Duration
	// Min is the lowest completion rate a close may leave (0.98: AEP-86's
	// for L3 and L4).
	Min float64

	mu    sync.Mutex
	stats *Stats
}

// Grant returns how many of n closes may be made: all while the window
// holds fewer than MinLeases leases (AEP-86 does not check those), else as
// many as keep the rate at Min or above; why says why the rest are held.
// A rate that cannot be read holds them all (err).
func (g *Guard) Grant(ctx context.Context, n int) (granted int, why string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stats == nil {
		s, err := Read(ctx, g.Chain, g.Provider, g.Window)
		if err != nil {
			return 0, "", fmt.Errorf("%w; nothing closed while it cannot be read (--min-completion-rate)", err)
		}
		g.stats = &s
	}
	s := g.stats
	if s.Total < MinLeases {
		s.Terminated += n
		return n, "", nil
	}
	granted = 0
	for granted < n && float64(s.Total-s.Terminated-granted-1)/float64(s.Total) >= g.Min {
		granted++
	}
	s.Terminated += granted
	if granted < n {
		why = fmt.Sprintf("the lease completion rate would fall below --min-completion-rate=%.4g: %d of the %d leases of the last %s were closed by the provider (%.2f%%); AEP-86 (draft) counts every provider close against it",
			g.Min, s.Terminated, s.Total, s.Window, 100*s.Rate())
	}
	return granted, why, nil
}

// Refund gives back closes granted and not made.
func (g *Guard) Refund(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stats != nil {
		g.stats.Terminated = max(0, g.stats.Terminated-n)
	}
}

// Validate checks a minimum rate.
func Validate(min float64, window time.Duration) error {
	var errs []error
	if min < 0 || min >= 1 {
		errs = append(errs, fmt.Errorf("--min-completion-rate=%v: want 0 (off) or a fraction below 1 (AEP-86: 0.98)", min))
	}
	if window <= 0 {
		errs = append(errs, fmt.Errorf("--completion-window=%s: must be positive", window))
	}
	return errors.Join(errs...)
}
