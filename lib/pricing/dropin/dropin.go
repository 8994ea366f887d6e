// Package dropin is the provider's bid price script as a program: the order
// on stdin, the configuration in the environment, the price on stdout, a
// refusal on stderr with exit code 1. The provider starts it once per
// order, so it imports nothing it does not need: start-up is most of what
// a quote costs.
package dropin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

// Timeout bounds a quote: the provider gives the script 10 s.
const Timeout = 9 * time.Second

// Run prices the order read from stdin with the configuration lookup
// finds (the environment, for the provider's script) and returns the exit
// code.
func Run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	fail := func(msg string) int {
		fmt.Fprint(stderr, msg)
		return 1
	}
	if allow, _ := lookup("WHITELIST_URL"); allow != "" {
		return fail("WHITELIST_URL is not supported by bid-price: allow tenants in the provider's bid rules instead")
	}
	body, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return fail("read the order: " + err.Error())
	}
	cfg, err := pricing.LoadConfig(lookup, true)
	if err != nil {
		return fail(err.Error())
	}
	if level, _ := lookup(pricing.KeyLogLevel); level != "" {
		// Off by default: the provider shows the script's stderr as the
		// reason of a refused bid.
		lvl, err := zerolog.ParseLevel(level)
		if err != nil {
			return fail(fmt.Sprintf("%s=%q: want debug, info, warn or error", pricing.KeyLogLevel, level))
		}
		cfg.Oracle.Log = zerolog.New(stderr).Level(lvl).With().Timestamp().Str("job", "bid-price").Logger()
	}
	order, err := pricing.ParseOrder(body)
	if err != nil {
		return fail(err.Error())
	}
	var akt pricing.Dec
	if NeedsAKT(order) {
		p, err := cfg.Oracle.Price(ctx)
		if p.USD.Valid() {
			akt = p.USD
		}
		if err != nil && !p.USD.Valid() {
			return fail(err.Error())
		}
	}
	q, err := cfg.Targets.Quote(order, akt)
	if err != nil {
		return fail(err.Error())
	}
	fmt.Fprint(stdout, q.Amount)
	return 0
}

// NeedsAKT tells whether an order is priced in uakt (so needs AKT's price).
func NeedsAKT(o pricing.Order) bool {
	return o.Price == nil || o.Price.Denom == pricing.DenomAKT
}
