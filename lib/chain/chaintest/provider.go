package chaintest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
)

// Provider is a provider on a simulated chain: its key, written as the
// akash-provider-keys Secret holds it (key.txt, key-pass.txt), its account,
// and the chain's REST URL.
type Provider struct {
	Key                  *chaintx.Signer
	KeyFile, KeyPassFile string
	Chain                *Chain
	URL                  string
}

// NewProvider makes a key and a chain with its account, served until the
// test ends.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	const pass = "provider-passphrase"
	key, armor, err := chaintx.GenerateKey(pass)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &Provider{Key: key, KeyFile: filepath.Join(dir, "key.txt"), KeyPassFile: filepath.Join(dir, "key-pass.txt"), Chain: New()}
	for path, body := range map[string]string{p.KeyFile: armor, p.KeyPassFile: pass + "\n"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.Chain.AddAccount(key.Address)
	p.URL = p.Chain.Start(t).URL
	return p
}

// Flags are the chain flags of a job run against this provider's chain.
func (p *Provider) Flags() []string {
	return []string{"--chain-rest", p.URL, "--chain-id", ChainID, "--key-file", p.KeyFile, "--key-pass-file", p.KeyPassFile}
}

// BuildCLI builds the stand-in of the official CLI (see akashcli), named
// provider-services, once per test binary, and returns its path: node
// 2.1's CLI.
func BuildCLI(t testing.TB) string { return BuildCLIOf(t, "") }

// BuildCLIOf is BuildCLI for the CLI of an earlier era: "2.0" is node
// 2.0's, which has no `tx market bid start-reclaim`.
func BuildCLIOf(t testing.TB, era string) string {
	t.Helper()
	bin := jobtest.Build(t, "github.com/akash-janitor/akash-janitor/lib/chain/chaintest/akashcli")
	name := "provider-services"
	if era != "" {
		name += "-" + era
	}
	named := filepath.Join(filepath.Dir(bin), name)
	if _, err := os.Lstat(named); os.IsNotExist(err) {
		if err := os.Symlink(bin, named); err != nil {
			t.Fatal(err)
		}
	}
	return named
}

// ProviderKeyName is the key's name in the provider pod's keyring.
const ProviderKeyName = "provider"

// PodEnv imports the provider's key into a test-backend keyring with the
// CLI, as the provider pod does when it starts, and returns the pod's
// environment the CLI reads (see ProviderPodEnv).
func (p *Provider) PodEnv(t testing.TB, cli string) map[string]string {
	t.Helper()
	pass, err := os.ReadFile(p.KeyPassFile)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ProviderPodEnv(cli, p.URL, p.KeyFile, pass, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// ProviderPodEnv does what the akash-provider chart's init does: pipes the
// passphrase to `<cli> keys import` of keyFile into a test-backend keyring
// under home. It returns the environment the provider pod gives the CLI:
// AKASH_NODE (node), AKASH_CHAIN_ID, AKASH_FROM, AKASH_KEYRING_BACKEND and
// AKASH_HOME.
func ProviderPodEnv(cli, node, keyFile string, pass []byte, home string) (map[string]string, error) {
	cmd := exec.Command(cli, "keys", "import", ProviderKeyName, keyFile, "--keyring-backend", "test", "--home", home)
	cmd.Stdin = bytes.NewReader(slices.Concat(bytes.TrimRight(pass, "\r\n"), []byte{'\n'}))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("import the provider key: %v: %s", err, out)
	}
	return map[string]string{"AKASH_NODE": node, "AKASH_CHAIN_ID": ChainID, "AKASH_FROM": ProviderKeyName,
		"AKASH_KEYRING_BACKEND": "test", "AKASH_HOME": home}, nil
}
