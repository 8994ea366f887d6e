package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

// script is the drop-in for price_script_generic.sh: the order on stdin,
// the configuration in the environment, the price on stdout; a refusal on
// stderr with exit code 1.
func script(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	fail := func(msg string) int {
		fmt.Fprint(stderr, msg)
		return 1
	}
	if allow := os.Getenv("WHITELIST_URL"); allow != "" {
		return fail("WHITELIST_URL is not supported by bid-price: allow tenants in the provider's bid rules instead")
	}
	body, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return fail("read the order: " + err.Error())
	}
	cfg, err := loadConfig(lookup, true)
	if err != nil {
		return fail(err.Error())
	}
	if level, _ := lookup(keyLogLevel); level != "" {
		// Off by default: the provider shows the script's stderr as the
		// reason of a refused bid.
		log, err := job.NewLogger(stderr, "json", level)
		if err != nil {
			return fail(keyLogLevel + ": " + err.Error())
		}
		cfg.oracle.Log = log.With().Str("job", "bid-price").Logger()
	}
	order, err := pricing.ParseOrder(body)
	if err != nil {
		return fail(err.Error())
	}
	var akt pricing.Dec
	if needsAKT(order) {
		p, err := cfg.oracle.Price(ctx)
		if p.USD.Valid() {
			akt = p.USD
		}
		if err != nil && !p.USD.Valid() {
			return fail(err.Error())
		}
	}
	q, err := cfg.targets.Quote(order, akt)
	if err != nil {
		return fail(err.Error())
	}
	fmt.Fprint(stdout, q.Amount)
	return 0
}

// needsAKT tells whether an order is priced in uakt (so needs AKT's price).
func needsAKT(o pricing.Order) bool {
	return o.Price == nil || o.Price.Denom == pricing.DenomAKT
}

func envLookup(k string) (string, bool) { return os.LookupEnv(k) }
