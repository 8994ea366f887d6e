package leaseclose

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/completion"
	"github.com/akash-janitor/akash-janitor/lib/kube"
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

	// Way is how leases are closed: tx, cli or exec (--closer).
	Way string
	// CLI is the official CLI the cli and exec closers run.
	CLI string
	// RPC is the CometBFT RPC the CLI talks to (cli closer).
	RPC string
	// CLIHome is where the cli closer makes its short-lived keyring.
	CLIHome string
	// ProviderPod (namespace/name) and ProviderContainer are where the
	// exec closer runs the CLI.
	ProviderPod, ProviderContainer string

	// MaxClosesPerDay is the rolling daily close budget (0: none), kept in
	// the ConfigMap CloseBudget (namespace/name).
	MaxClosesPerDay int
	CloseBudget     string

	// MinCompletionRate, when above 0, holds the closes that would bring
	// the provider's lease completion rate over CompletionWindow below it
	// (AEP-86, draft).
	MinCompletionRate float64
	CompletionWindow  time.Duration
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
	fs.StringVar(&f.Way, "closer", "tx", "how leases are closed: tx (sign and broadcast in Go with the key), cli (run the official CLI here, with the key imported into a keyring that lives for the run), exec (run the CLI in the provider pod, whose key never leaves it)")
	fs.StringVar(&f.CLI, "cli", "provider-services", "the official CLI (provider-services or akt) the cli and exec closers run: a name on PATH or a path")
	fs.StringVar(&f.RPC, "chain-rpc", "", "CometBFT RPC of an Akash node, for the cli closer (e.g. https://rpc.akashnet.net:443)")
	fs.StringVar(&f.CLIHome, "cli-home", "", "directory where the cli closer makes its keyring for the run (empty: the temp directory)")
	fs.StringVar(&f.ProviderPod, "provider-pod", "akash-services/akash-provider-0", "namespace/name of the provider pod the exec closer runs the CLI in")
	fs.StringVar(&f.ProviderContainer, "provider-container", "provider", "its container")
	fs.IntVar(&f.MaxClosesPerDay, "max-closes-per-day", 0, "most leases closed in any 24 hours, by every job sharing --close-budget-configmap; past it closes are skipped with the reason (0: no daily budget)")
	fs.Float64Var(&f.MinCompletionRate, "min-completion-rate", 0, "hold a close that would bring the provider's lease completion rate over --completion-window below this (AEP-86, draft: 0.98 for tiers L3 and L4; not checked below 10 leases); 0: off. Reading it lists the provider's closed leases once a run")
	fs.DurationVar(&f.CompletionWindow, "completion-window", 30*24*time.Hour, "the window the completion rate is measured over")
	fs.StringVar(&f.CloseBudget, "close-budget-configmap", "akash-services/akash-janitor-close-budget", "namespace/name of the ConfigMap that records the closes of the last 24 hours (it must exist)")
}

// Budget returns the daily close budget of the flags, nil when there is
// none (--max-closes-per-day=0), its gauges registered with reg.
func (f *ChainFlags) Budget(client kubernetes.Interface, job string, now func() time.Time, reg prometheus.Registerer) (*closebudget.Budget, error) {
	if f.MaxClosesPerDay < 0 {
		return nil, fmt.Errorf("--max-closes-per-day=%d: must be 0 or more", f.MaxClosesPerDay)
	}
	if f.MaxClosesPerDay == 0 {
		return nil, nil
	}
	ns, name, err := kube.SplitNamespaced(f.CloseBudget)
	if err != nil {
		return nil, fmt.Errorf("--close-budget-configmap=%q: %v", f.CloseBudget, err)
	}
	b := &closebudget.Budget{Client: client, Namespace: ns, Name: name, PerDay: f.MaxClosesPerDay, Job: job, Now: now}
	if reg != nil {
		b.Register(reg)
	}
	return b, nil
}

// Completion returns the completion-rate guard of the flags, nil when
// there is none (--min-completion-rate=0).
func (f *ChainFlags) Completion(c *chain.Client, provider string) (*completion.Guard, error) {
	if err := completion.Validate(f.MinCompletionRate, f.CompletionWindow); err != nil {
		return nil, err
	}
	if f.MinCompletionRate == 0 {
		return nil, nil
	}
	return &completion.Guard{Chain: c, Provider: provider, Window: f.CompletionWindow, Min: f.MinCompletionRate}, nil
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

// Closer returns the closer --closer chose. The key (tx, cli) must be
// provider's when provider is given; exec has no key here and needs
// provider, and config, the API server's client config. Errors never hold the key.
func (f *ChainFlags) Closer(c *chain.Client, provider string, batchSize int, memo string, config *rest.Config) (Closer, error) {
	if provider != "" {
		if err := chain.ValidateAddress(provider); err != nil {
			return nil, fmt.Errorf("--provider: %w", err)
		}
	}
	switch f.Way {
	case "tx":
		t, err := f.TxCloser(c, provider, batchSize, memo)
		if err != nil {
			return nil, err
		}
		return t, nil
	case "cli", "exec":
	default:
		return nil, fmt.Errorf("--closer=%q: want tx, cli or exec", f.Way)
	}
	if f.Authz {
		return nil, fmt.Errorf("--authz works with --closer=tx only: the CLI closes the bids of its own key")
	}
	if strings.TrimSpace(f.CLI) == "" {
		return nil, fmt.Errorf("--cli is empty")
	}
	if _, err := sdk.ParseDecCoin(f.GasPrices); err != nil {
		return nil, fmt.Errorf("--gas-prices %q: %v", f.GasPrices, err)
	}
	cc := &CommandCloser{CLI: f.CLI, Chain: c, ProviderAddress: provider,
		Flags: []string{"--gas", "auto", "--gas-adjustment", strconv.FormatFloat(f.GasAdjustment, 'f', -1, 64), "--gas-prices", f.GasPrices}}
	if memo != "" {
		cc.Flags = append(cc.Flags, "--note", memo)
	}
	if f.Way == "exec" {
		ns, pod, err := kube.SplitNamespaced(f.ProviderPod)
		if err != nil {
			return nil, fmt.Errorf("--provider-pod=%q: %v", f.ProviderPod, err)
		}
		if provider == "" {
			return nil, fmt.Errorf("--closer=exec needs --provider: the key is in the provider pod, not here")
		}
		if config == nil {
			return nil, fmt.Errorf("--closer=exec needs access to the API server")
		}
		runner := PodExecRunner{Config: config, Namespace: ns, Pod: pod, Container: f.ProviderContainer}
		cc.Runner = runner
		cc.Setup = PodKeyCheck(runner, f.CLI, provider)
		return cc, nil
	}
	if f.RPC == "" {
		return nil, fmt.Errorf("--closer=cli needs --chain-rpc: the CLI speaks CometBFT RPC, not REST")
	}
	signer, pass, err := f.loadKey()
	if err != nil {
		return nil, err
	}
	if err := checkProvider(provider, signer.Address); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(pass)) < 8 {
		return nil, fmt.Errorf("--key-pass-file %s: the CLI's keys import refuses a passphrase shorter than 8 characters", f.KeyPassFile)
	}
	cc.ProviderAddress = signer.Address
	runner := LocalRunner{Home: f.CLIHome}
	cc.Runner = runner
	cc.Flags = append(cc.Flags, "--node", f.RPC, "--chain-id", f.ChainID)
	cc.Setup = KeyImport(runner, f.CLI, f.CLIHome, "akash-janitor", f.KeyFile, pass)
	return cc, nil
}

func checkProvider(provider, key string) error {
	if provider != "" && provider != key {
		return fmt.Errorf("--provider=%s, but the key is %s's: refusing to act for another provider (a grantee key needs --authz)", provider, key)
	}
	return nil
}

// loadKey reads and decrypts the key, returning its passphrase too.
func (f *ChainFlags) loadKey() (*chaintx.Signer, []byte, error) {
	armored, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--key-file: %w", err)
	}
	pass, err := os.ReadFile(f.KeyPassFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--key-pass-file: %w", err)
	}
	signer, err := chaintx.LoadKey(string(armored), string(pass))
	// The key's KDF (argon2id in keys exported by current nodes) has just
	// used 64 MiB by design. Given back now, before the job lists anything,
	// the run's peak is the KDF's or the listing's, not the two stacked.
	debug.FreeOSMemory()
	if err != nil {
		return nil, nil, fmt.Errorf("--key-file %s: %w", f.KeyFile, err)
	}
	return signer, pass, nil
}

// TxCloser loads the key and returns the closer. The key must be
// provider's when provider is given. Errors never hold the key.
func (f *ChainFlags) TxCloser(c *chain.Client, provider string, batchSize int, memo string) (*TxCloser, error) {
	signer, _, err := f.loadKey()
	if err != nil {
		return nil, err
	}
	granter := ""
	switch {
	case f.Authz && provider == "":
		return nil, fmt.Errorf("--authz needs --provider: the granter the key closes for")
	case f.Authz:
		granter = provider
	default:
		if err := checkProvider(provider, signer.Address); err != nil {
			return nil, err
		}
	}
	closer := &TxCloser{Chain: c, Signer: signer, ChainID: f.ChainID, GasPrices: f.GasPrices, GasAdjustment: f.GasAdjustment,
		BatchSize: batchSize, Memo: memo, Granter: granter}
	if err := closer.Validate(); err != nil {
		return nil, err
	}
	return closer, nil
}

// CheckNode reads the node's version once and logs it (a chain job's
// first line about the chain), and, when the closer signs with --chain-id
// (tx and cli; exec signs with the provider pod's own), checks that the
// node serves that chain: a transaction signed for another is refused
// only at broadcast, after signing (sdk code 4; recorded against node
// 2.1.0-rc12 and 2.0.1). A node that does not say is a warning, not a
// failure: the requests that follow fail closed on their own.
func (f *ChainFlags) CheckNode(ctx context.Context, c *chain.Client, log zerolog.Logger, closer Closer) error {
	node, err := c.NodeInfo(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("the node's version is unknown")
		return nil
	}
	log.Info().Str("node_version", node.AppVersion).Str("chain_id", node.Network).Bool("reclamation", node.KnowsReclamation()).Msg("chain node")
	if closer == nil || closer.Backend() == "exec" || node.Network == "" || node.Network == f.ChainID {
		return nil
	}
	return fmt.Errorf("--chain-id=%s, but the node at %s serves chain %s: a transaction signed for %s would be refused; nothing was signed",
		f.ChainID, strings.Join(c.Endpoints, ","), node.Network, f.ChainID)
}
