package main

import (
	"fmt"
	"sort"
	"time"

	sdkmath "cosmossdk.io/math"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

// planned is the closes, oldest bid first (the run's budget takes the
// oldest), and the deposits the stale bids hold, by denom.
type planned struct {
	closes []actuator.Action
	open   int
	held   []chain.Coin
}

// plan closes each open bid at least maxAge old by the chain's clock. A
// younger bid is the provider's: its bid engine closes it after its own
// timeout. The Events go on the provider's pod (podNS/podName): a bid has
// no object in the cluster.
func plan(obs observed, maxAge time.Duration, podNS, podName string) planned {
	type aged struct {
		bid chain.Bid
		age time.Duration
	}
	var stale []aged
	for _, b := range obs.bids {
		if b.State != chain.BidOpen {
			continue
		}
		if age := obs.clock.Age(b.CreatedAt); age >= maxAge {
			stale = append(stale, aged{b, age})
		}
	}
	sort.SliceStable(stale, func(i, j int) bool { return stale[i].bid.CreatedAt < stale[j].bid.CreatedAt })
	p := planned{open: len(obs.bids)}
	held := map[string]sdkmath.LegacyDec{}
	var denoms []string
	for _, s := range stale {
		for _, c := range s.bid.Deposit {
			amount, err := sdkmath.LegacyNewDecFromStr(c.Amount)
			if err != nil {
				continue // the client checked it
			}
			if _, ok := held[c.Denom]; !ok {
				held[c.Denom] = sdkmath.LegacyZeroDec()
				denoms = append(denoms, c.Denom)
			}
			held[c.Denom] = held[c.Denom].Add(amount)
		}
		p.closes = append(p.closes, actuator.Action{
			Verb:    leaseclose.VerbCloseBid,
			Target:  actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: podNS, Name: podName},
			Subject: "bid " + s.bid.ID.String(),
			Lease:   s.bid.ID.LeaseID().String(),
			Reason:  "BidStale",
			Message: fmt.Sprintf("the provider's bid on order %s has been open %s (placed at height %d), past --max-bid-age=%s: no tenant took it and the provider's bid engine, which closes its own after its bid timeout, has forgotten it; closing it gives back its deposit of %s",
				s.bid.Order(), s.age.Round(time.Second), s.bid.CreatedAt, maxAge, leaseclose.DepositText(s.bid.Deposit)),
			Payload: s.bid,
		})
	}
	sort.Strings(denoms)
	for _, d := range denoms {
		p.held = append(p.held, chain.Coin{Denom: d, Amount: held[d].String()})
	}
	return p
}
