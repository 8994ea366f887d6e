// bid-price-script is bid-price's drop-in for the provider's
// price_script_generic.sh, alone in a small binary so that it starts fast:
// the provider starts one per order. The order on stdin, PRICE_TARGET_* in
// the environment, the price on stdout; a refusal on stderr with exit
// code 1. `bid-price` with no arguments does the same, more slowly.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/akash-janitor/akash-janitor/lib/pricing/dropin"
	"github.com/akash-janitor/akash-janitor/lib/version"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "--version", "version":
			fmt.Println(version.Line("bid-price-script"))
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "bid-price-script takes no arguments (got %q): the order on stdin, PRICE_TARGET_* in the environment, as for price_script_generic.sh\n", os.Args[1:])
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, dropin.Timeout)
	code := dropin.Run(ctx, os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	cancel()
	stop()
	os.Exit(code)
}
