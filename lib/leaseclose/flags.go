package leaseclose

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// ChainFlags are the flags every job that talks to the chain has.
type ChainFlags struct {
	REST          string
	ChainID       string
	MarketAPI     string
	PageLimit     int
	GasPrices     string
	GasAdjustment float64
	KeyFile       string
	KeyPassFile   string
	// Authz: the key is a grantee of the provider (authz MsgExec).
	Authz bool
}

// Register adds the flags.
func (f *ChainFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.REST, "chain-rest", "", "comma-separated REST endpoints of Akash nodes, tried in order")
	fs.StringVar(&f.ChainID, "chain-id", "akashnet-2", "the chain ID")
	fs.StringVar(&f.MarketAPI, "market-api", "v1beta5", "market API version of the nodes (v1beta5, or v1beta4 for older nodes)")
	fs.IntVar(&f.PageLimit, "chain-page-limit", 1000, "leases asked per page of the chain's listings")
	fs.StringVar(&f.GasPrices, "gas-prices", "0.025uakt", "gas price of the close transactions")
	fs.Float64Var(&f.GasAdjustment, "gas-adjustment", 1.5, "multiplies the simulated gas")
	fs.StringVar(&f.KeyFile, "key-file", "/keys/key.txt", "the provider's armored key (the akash-provider-keys Secret's key.txt)")
	fs.StringVar(&f.KeyPassFile, "key-pass-file", "/keys/key-pass.txt", "its passphrase (key-pass.txt)")
	fs.BoolVar(&f.Authz, "authz", false, "the key is a dedicated grantee of --provider's MsgCloseBid grant (authz): closes go through MsgExec, never on the provider's account sequence")
}

// Client is the chain client of the flags.
func (f *ChainFlags) Client() (*chain.Client, error) {
	var endpoints []string
	for _, e := range strings.Split(f.REST, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	c := &chain.Client{Endpoints: endpoints, MarketVersion: f.MarketAPI, Timeout: 15 * time.Second, Rounds: 2, PageLimit: f.PageLimit}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("--chain-rest: %w", err)
	}
	return c, nil
}

// TxCloser loads the key and returns the closer. The key must be
// provider's when provider is given. Errors never hold the key.
func (f *ChainFlags) TxCloser(c *chain.Client, provider string, batchSize int, memo string) (*TxCloser, error) {
	armored, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	pass, err := os.ReadFile(f.KeyPassFile)
	if err != nil {
		return nil, fmt.Errorf("--key-pass-file: %w", err)
	}
	signer, err := chaintx.LoadKey(string(armored), string(pass))
	if err != nil {
		return nil, fmt.Errorf("--key-file %s: %w", f.KeyFile, err)
	}
	granter := ""
	switch {
	case f.Authz && provider == "":
		return nil, fmt.Errorf("--authz needs --provider: the granter the key closes for")
	case f.Authz:
		granter = provider
	case provider != "" && provider != signer.Address:
		return nil, fmt.Errorf("--provider=%s, but the key is %s's: refusing to act for another provider (a grantee key needs --authz)", provider, signer.Address)
	}
	closer := &TxCloser{Chain: c, Signer: signer, ChainID: f.ChainID, GasPrices: f.GasPrices, GasAdjustment: f.GasAdjustment,
		BatchSize: batchSize, Memo: memo, Granter: granter}
	if err := closer.Validate(); err != nil {
		return nil, err
	}
	return closer, nil
}
