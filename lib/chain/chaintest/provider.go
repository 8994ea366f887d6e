package chaintest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/akash-janitor/akash-janitor/lib/chaintx"
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
