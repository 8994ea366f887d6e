package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// staleBids closes, on a simulated Akash chain, the open bids a provider
// forgot, and shows their deposits coming back.
func (d *demo) staleBids() error {
	key, armor, err := chaintx.GenerateKey("demo-passphrase")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "akash-janitor-demo-keys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for name, body := range map[string]string{"key.txt": armor, "key-pass.txt": "demo-passphrase"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	srv := httptest.NewServer(ch)
	defer srv.Close()

	deposit := sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000))
	price := sdk.NewDecCoin("uakt", sdkmath.NewInt(12))
	bid := func(n int) chain.BidID {
		return chain.BidID{Owner: akashtest.LeaseID(n).Owner, DSeq: uint64(9_100_000 + n), GSeq: 1, OSeq: 1, Provider: key.Address}
	}
	// Four bids placed a few hours ago: three on orders nobody leased, one
	// taken since; one placed a minute ago.
	for _, n := range []int{1, 2, 3, 4} {
		ch.PlaceBid(bid(n), price, deposit)
	}
	ch.Advance(2000) // about three and a half hours at mainnet's pace
	if err := ch.LeaseBid(bid(4)); err != nil {
		return err
	}
	ch.PlaceBid(bid(5), price, deposit)
	ch.Advance(10)
	say("close-stale-bids, against the simulated node. Provider " + key.Address + " placed five bids,\n" +
		"each holding its 500000uakt deposit in escrow. Three are on orders nobody took, open for three\n" +
		"hours: the provider's bid engine closes its own after 5 minutes, but these it lost track of (a\n" +
		"close that failed, a restart that never listed those orders again), and the chain never expires a\n" +
		"bid. One was leased since; one was placed a minute ago.")
	args := []string{"--chain-rest", srv.URL, "--chain-id", chaintest.ChainID, "--key-file", filepath.Join(dir, "key.txt"),
		"--key-pass-file", filepath.Join(dir, "key-pass.txt"), "--event-pod", akashtest.ProviderNamespace + "/" + akashtest.ProviderPod}
	if err := d.runJob("close-stale-bids", append(args, "--dry-run")...); err != nil {
		return err
	}
	if err := d.runJob("close-stale-bids", args...); err != nil {
		return err
	}
	for _, n := range []int{1, 2, 3, 4, 5} {
		b, _ := ch.Bid(bid(n))
		fmt.Printf("   bid %s: %s, escrow %s\n", b.ID, b.State, b.Escrow)
	}
	fmt.Printf("   deposits given back to the provider: %s\n", ch.Refunded(key.Address))
	return nil
}
