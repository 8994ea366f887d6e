package leaseclose

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

const owner = "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"

// cliFlags are the flags of a job using the cli closer against p.
func cliFlags(p *chaintest.Provider, cli, home string) *ChainFlags {
	return &ChainFlags{Way: "cli", CLI: cli, RPC: p.URL, CLIHome: home, ChainID: chaintest.ChainID,
		GasPrices: "0.025uakt", GasAdjustment: 1.5, KeyFile: p.KeyFile, KeyPassFile: p.KeyPassFile}
}

func TestCLICloserClosesThroughTheCommandLine(t *testing.T) {
	ctx := context.Background()
	cli := chaintest.BuildCLI(t)
	p := chaintest.NewProvider(t)
	var leases []chain.Lease
	for i := 1; i <= 3; i++ {
		l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: uint64(100 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
		p.Chain.Put(l)
		leases = append(leases, l)
	}
	bseq := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 200, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, BSeq: 2, State: chain.StateActive}
	p.Chain.Put(bseq)
	reclaiming := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 201, GSeq: 1, OSeq: 1, Provider: p.Key.Address},
		State: chain.StateReclaiming, Reclamation: &chain.Reclamation{Window: time.Hour, Deadline: time.Now().Add(time.Hour)}}
	p.Chain.Put(reclaiming)

	home := t.TempDir()
	f := cliFlags(p, cli, home)
	closer, err := f.Closer(&chain.Client{Endpoints: []string{p.URL}}, "", 10, "akash-janitor test", nil)
	require.NoError(t, err)
	assert.Equal(t, "cli", closer.Backend())
	assert.Equal(t, p.Key.Address, closer.Provider(), "the provider is the key's")

	// The provider daemon sends from the account meanwhile, three times:
	// the CLI resends once, then prints the refusal; the closer runs the
	// command again.
	p.Chain.MismatchNext(3)
	results := closer.Close(ctx, append(append([]chain.Lease{}, leases...), bseq, reclaiming), 10001)
	require.Len(t, results, 5)
	for i, r := range results[:3] {
		require.NoError(t, r.Err, "lease %d", i)
		assert.NotEmpty(t, r.TxHash)
		l, _ := p.Chain.Get(r.Lease.ID)
		assert.Equal(t, chain.StateClosed, l.State)
		assert.Equal(t, "lease_closed_reason_decommission", l.Reason, "--reason reached the message")
	}
	applied := p.Chain.Applied()
	require.Len(t, applied, 3, "one transaction per lease, as the CLI sends")
	for i, a := range applied {
		assert.Equal(t, results[i].TxHash, a.Hash)
		assert.Equal(t, p.Key.Address, a.Signer)
	}
	assert.Contains(t, results[3].Err.Error(), "bid sequence 2")
	assert.ErrorIs(t, results[4].Err, ErrReclaiming)
	l, _ := p.Chain.Get(bseq.ID)
	assert.Equal(t, chain.StateActive, l.State)

	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	assert.Empty(t, entries, "the keyring, which holds the key unencrypted, is gone after the run")
}

// Node 2.1's CLI starts a reclamation window (`tx market bid
// start-reclaim`); node 2.0's has no such command, and the closer says so
// before running anything else.
func TestCLICloserStartsReclamation(t *testing.T) {
	ctx := context.Background()
	p := chaintest.NewProvider(t)
	p.Chain.WithReclamation()
	l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 301, GSeq: 1, OSeq: 1, Provider: p.Key.Address},
		State: chain.StateActive, Reclamation: &chain.Reclamation{Window: time.Hour}}
	p.Chain.Put(l)
	client := &chain.Client{Endpoints: []string{p.URL}}

	old, err := cliFlags(p, chaintest.BuildCLIOf(t, "2.0"), t.TempDir()).Closer(client, "", 1, "", nil)
	require.NoError(t, err)
	r := old.StartReclaim(ctx, []chain.Lease{l}, 10003)
	assert.ErrorIs(t, r[0].Err, ErrStartReclaimUnsupported)
	assert.ErrorContains(t, r[0].Err, "tx market bid` has no start-reclaim (a CLI older than node 2.1's)")
	assert.Empty(t, p.Chain.Applied())

	closer, err := cliFlags(p, chaintest.BuildCLI(t), t.TempDir()).Closer(client, "", 1, "", nil)
	require.NoError(t, err)
	r = closer.StartReclaim(ctx, []chain.Lease{l}, 10003)
	require.NoError(t, r[0].Err)
	assert.NotEmpty(t, r[0].TxHash)
	got, _ := p.Chain.Get(l.ID)
	assert.Equal(t, chain.StateReclaiming, got.State)
	assert.Equal(t, "lease_closed_reason_manifest_timeout", got.Reclamation.Reason, "--reason reached the message")
	applied := p.Chain.Applied()
	require.Len(t, applied, 1)
	assert.Equal(t, []chain.BidID{chain.BidIDOf(l)}, applied[0].Reclaiming)

	r = closer.StartReclaim(ctx, []chain.Lease{got}, 10003)
	assert.ErrorContains(t, r[0].Err, "no reclamation window to start", "started once: refused before running anything")
}

func TestCLICloserFailsClearly(t *testing.T) {
	ctx := context.Background()
	cli := chaintest.BuildCLI(t)
	p := chaintest.NewProvider(t)
	l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 7, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
	p.Chain.Put(l)
	client := &chain.Client{Endpoints: []string{p.URL}}

	t.Run("configuration", func(t *testing.T) {
		f := cliFlags(p, cli, "")
		f.RPC = ""
		_, err := f.Closer(client, "", 1, "", nil)
		assert.ErrorContains(t, err, "--closer=cli needs --chain-rpc")

		f = cliFlags(p, cli, "")
		f.Authz = true
		_, err = f.Closer(client, p.Key.Address, 1, "", nil)
		assert.ErrorContains(t, err, "--authz works with --closer=tx only")

		f = cliFlags(p, cli, "")
		_, err = f.Closer(client, "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", 1, "", nil)
		assert.ErrorContains(t, err, "refusing to act for another provider")

		f = cliFlags(p, cli, "")
		f.KeyFile, f.KeyPassFile = writeKey(t), writePass(t) // passphrase "pw"
		_, err = f.Closer(client, "", 1, "", nil)
		assert.ErrorContains(t, err, "refuses a passphrase shorter than 8 characters")

		f = cliFlags(p, cli, "")
		f.Way = "ssh"
		_, err = f.Closer(client, "", 1, "", nil)
		assert.ErrorContains(t, err, `--closer="ssh": want tx, cli or exec`)
	})

	t.Run("a CLI that is not there", func(t *testing.T) {
		closer, err := cliFlags(p, filepath.Join(t.TempDir(), "provider-services"), "").Closer(client, "", 1, "", nil)
		require.NoError(t, err)
		res := closer.Close(ctx, []chain.Lease{l}, 10002)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "keys import")
		assert.Contains(t, res[0].Err.Error(), "no such file or directory")
	})

	t.Run("the node refuses it at simulate", func(t *testing.T) {
		closer, err := cliFlags(p, cli, "").Closer(client, "", 1, "", nil)
		require.NoError(t, err)
		gone := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 8, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
		res := closer.Close(ctx, []chain.Lease{gone}, 10002) // the chain has no such bid
		require.Error(t, res[0].Err)
		assert.Empty(t, res[0].TxHash, "refused before broadcast (--gas auto simulates): no transaction")
		assert.Contains(t, res[0].Err.Error(), "HTTP 500, code 2: failed to execute message; message index: 0: unknown bid")
	})

	t.Run("the node keeps refusing the transaction", func(t *testing.T) {
		closer, err := cliFlags(p, cli, "").Closer(client, "", 1, "", nil)
		require.NoError(t, err)
		p.Chain.MismatchNext(100)
		defer p.Chain.MismatchNext(0)
		res := closer.Close(ctx, []chain.Lease{l}, 10002)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "the node refused the transaction (sdk code 32): account sequence mismatch")
		got, _ := p.Chain.Get(l.ID)
		assert.Equal(t, chain.StateActive, got.State)
	})

	t.Run("the CLI refuses the command", func(t *testing.T) {
		closer, err := cliFlags(p, cli, "").Closer(client, "", 1, "", nil)
		require.NoError(t, err)
		res := closer.Close(ctx, []chain.Lease{l}, 5)
		require.Error(t, res[0].Err)
		assert.Empty(t, res[0].TxHash)
		assert.Contains(t, res[0].Err.Error(), "provider-services (cli) refused to close lease "+l.ID.String())
		assert.Contains(t, res[0].Err.Error(), "exit status 1: Error: invalid --reason value")
		got, _ := p.Chain.Get(l.ID)
		assert.Equal(t, chain.StateActive, got.State)
	})

	t.Run("a wrong passphrase closes nothing", func(t *testing.T) {
		// The key file decrypts with key-pass.txt; the import is given another.
		f := cliFlags(p, cli, "")
		closer, err := f.Closer(client, "", 1, "", nil)
		require.NoError(t, err)
		cc := closer.(*CommandCloser)
		cc.Setup = KeyImport(cc.Runner, cli, "", "akash-janitor", p.KeyFile, []byte("not-the-passphrase\n"))
		res := closer.Close(ctx, []chain.Lease{l}, 10002)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "keys import")
		assert.NotContains(t, res[0].Err.Error(), "not-the-passphrase", "the passphrase is never in a message")
		got, _ := p.Chain.Get(l.ID)
		assert.Equal(t, chain.StateActive, got.State)
	})
}

func TestParseTxResponse(t *testing.T) {
	for name, tc := range map[string]struct {
		out, hash, err string
		code           uint32
	}{
		"proto JSON":      {out: `{"height":"0","txhash":"AB12","codespace":"","code":0,"data":"","raw_log":"","logs":[],"info":"","gas_wanted":"0","gas_used":"0","tx":null,"timestamp":"","events":[]}`, hash: "AB12"},
		"after log lines": {out: "I[2026] broadcast\n{\"txhash\":\"CD34\",\"code\":5,\"codespace\":\"sdk\",\"raw_log\":\"insufficient funds\"}\n", hash: "CD34", code: 5},
		"no output":       {out: "", err: "printed no transaction response"},
		"text output":     {out: "code: 0\ntxhash: AB12\n", err: "printed no transaction response"},
		"broken JSON":     {out: `{"txhash":`, err: "not a transaction response"},
		"no hash":         {out: `{"code":0}`, err: "has no txhash"},
		"bad height":      {out: `{"txhash":"AB","height":"x"}`, err: "not a transaction response"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := parseTxResponse([]byte(tc.out))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.hash, r.Hash)
			assert.Equal(t, tc.code, r.Code)
		})
	}
}

func TestArgvIsWhatTheRecordedCLIAccepts(t *testing.T) {
	// Every flag the closer passes is one the real command has (recorded in
	// the stand-in's cli-flags.json, from the CLI's source).
	raw, err := os.ReadFile("../chain/chaintest/akashcli/cli-flags.json")
	require.NoError(t, err)
	var rec struct {
		Persistent []struct{ Name string } `json:"persistent"`
		Commands   map[string][]struct{ Name string }
	}
	require.NoError(t, json.Unmarshal(raw, &rec))
	require.NotEmpty(t, rec.Commands["tx market bid close"])
	c := &CommandCloser{CLI: "provider-services", Flags: []string{"--gas", "auto", "--gas-adjustment", "1.5", "--gas-prices", "0.025uakt", "--note", "m", "--node", "x", "--chain-id", "y"}}
	l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 1, GSeq: 1, OSeq: 1, Provider: "p"}}
	for _, sub := range []string{"close", "start-reclaim"} {
		flags := rec.Commands["tx market bid "+sub]
		require.NotEmpty(t, flags, sub)
		known := map[string]bool{}
		for _, f := range append(rec.Persistent, flags...) {
			known[f.Name] = true
		}
		argv := c.argv(sub, l, 10002, "--from", "k", "--keyring-backend", "test", "--home", "h")
		assert.Equal(t, []string{"provider-services", "tx", "market", "bid", sub}, argv[:5])
		for _, a := range argv[5:] {
			if strings.HasPrefix(a, "--") {
				assert.True(t, known[strings.TrimPrefix(a, "--")], "flag %s is not the %s command's", a, sub)
			}
		}
	}
	assert.Equal(t, c.Argv(l, 10002), c.argv("close", l, 10002))
}

func TestExecCloserRunsTheCLIInTheProviderPod(t *testing.T) {
	ctx := context.Background()
	cluster, b := akashtest.Shared(t)
	cli := chaintest.BuildCLI(t)
	p := chaintest.NewProvider(t)
	require.NoError(t, b.ProviderPod(ctx))
	require.NoError(t, cluster.AllowExec(ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", p.PodEnv(t, cli)))

	// The job's ServiceAccount may create pods/exec on akash-provider-0,
	// and nothing else.
	const sa = "exec-closer"
	ns := akashtest.ProviderNamespace
	_, err := cluster.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cluster.Kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}, ResourceNames: []string{akashtest.ProviderPod}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cluster.Kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	asSA := rest.CopyConfig(cluster.Config)
	asSA.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}

	var leases []chain.Lease
	for i := 1; i <= 2; i++ {
		l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: uint64(300 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
		p.Chain.Put(l)
		leases = append(leases, l)
	}
	f := &ChainFlags{Way: "exec", CLI: cli, ProviderPod: ns + "/" + akashtest.ProviderPod, ProviderContainer: akashtest.ProviderContainer,
		GasPrices: "0.025uakt", GasAdjustment: 1.5}
	client := &chain.Client{Endpoints: []string{p.URL}}
	_, err = f.Closer(client, "", 1, "", asSA)
	assert.ErrorContains(t, err, "--closer=exec needs --provider")

	closer, err := f.Closer(client, p.Key.Address, 1, "akash-janitor test", asSA)
	require.NoError(t, err)
	assert.Equal(t, "exec", closer.Backend())
	results := closer.Close(ctx, leases, 10000)
	for _, r := range results {
		require.NoError(t, r.Err)
		l, _ := p.Chain.Get(r.Lease.ID)
		assert.Equal(t, chain.StateClosed, l.State)
		assert.Equal(t, "lease_closed_reason_unstable", l.Reason)
	}
	for _, a := range p.Chain.Applied() {
		assert.Equal(t, p.Key.Address, a.Signer, "signed in the pod with the provider's key")
	}

	t.Run("the CLI's refusal comes back", func(t *testing.T) {
		l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 310, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
		p.Chain.Put(l)
		res := closer.Close(ctx, []chain.Lease{l}, 5)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "Error: invalid --reason value")
		got, _ := p.Chain.Get(l.ID)
		assert.Equal(t, chain.StateActive, got.State)
	})

	t.Run("the pod's key is not --provider's", func(t *testing.T) {
		other := "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
		c, err := f.Closer(client, other, 1, "", asSA)
		require.NoError(t, err)
		l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 312, GSeq: 1, OSeq: 1, Provider: other}, State: chain.StateActive}
		p.Chain.Put(l)
		res := c.Close(ctx, []chain.Lease{l}, 10002)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "the provider pod signs with \""+p.Key.Address+"\" (its AKASH_FROM), not --provider="+other)
		assert.Len(t, p.Chain.Applied(), 2, "nothing sent")
	})

	t.Run("no other pod", func(t *testing.T) {
		other := *f
		other.ProviderPod = ns + "/akash-provider-1"
		c, err := other.Closer(client, p.Key.Address, 1, "", asSA)
		require.NoError(t, err)
		l := chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 311, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive}
		p.Chain.Put(l)
		res := c.Close(ctx, []chain.Lease{l}, 10002)
		require.Error(t, res[0].Err)
		assert.Contains(t, res[0].Err.Error(), "forbidden")
	})
}

func TestLocalRunnerSaysWhyACLICannotStart(t *testing.T) {
	// A file the kernel cannot load: its interpreter is missing, as the
	// loader of a dynamically linked CLI is in a static image.
	cli := filepath.Join(t.TempDir(), "provider-services")
	require.NoError(t, os.WriteFile(cli, []byte("#!/no/such/loader\n"), 0o755))
	_, _, err := LocalRunner{}.Run(context.Background(), []string{cli, "version"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists but cannot start")

	_, _, err = LocalRunner{}.Run(context.Background(), []string{filepath.Join(t.TempDir(), "absent"), "version"}, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "exists but cannot start")
}
