package chaintest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

const auditor = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"

// A provider's certificate (ECDSA P-256, as provider-services makes them;
// made for this test), PEM.
const certPEM = `-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIESZYC0jAKBggqhkjOPQQDAjA3MTUwMwYDVQQDEyxha2Fz
aDE5aDgycXo0Z25jeW11Zmg3dTk0dDBtcGVrbW45eXVyeDkyOXUweTAeFw0yNjEy
MDQwMDAwMDBaFw0yNzEyMDQwMDAwMDBaMDcxNTAzBgNVBAMTLGFrYXNoMTloODJx
ejRnbmN5bXVmaDd1OTR0MG1wZWttbjl5dXJ4OTI5dTB5MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEbN5D897Jpat/8snX2we1PEo8AQJcuFQQBVMma1VCUhx+5Rn5
DWSsqRqqNqg1W3wHaiqAo1nxklmodxf9BqKMjqMjMCEwHwYDVR0RBBgwFoIUcHJv
dmlkZXIuZXhhbXBsZS5jb20wCgYIKoZIzj0EAwIDSAAwRQIhAMOa3JmG1j0Bgt/b
HTHVkHz7eZcg9IcY8dMXhonG/ia9AiBMCeReS+nR02aGbTfxH0/DCimaYe2nnF9M
0olm2kL2Og==
-----END CERTIFICATE-----
`

// registryChain is a provider registered with its attributes, audited by
// one auditor, with a certificate valid and one revoked, as the golden
// answers of testdata/node-source/provider_*, audit_* and certificates_*
// have them.
func registryChain() *chaintest.Chain {
	ch := chaintest.New()
	ch.SetProvider(provider, "https://provider.example.com:8443",
		chain.Attribute{Key: "host", Value: "akash"}, chain.Attribute{Key: "tier", Value: "community"},
		chain.Attribute{Key: "capabilities/storage/1/class", Value: "beta2"})
	ch.SignAttributes(provider, auditor, chain.Attribute{Key: "host", Value: "akash"}, chain.Attribute{Key: "tier", Value: "community"})
	ch.AddCertificate(provider, "1234567890", "valid", []byte(certPEM))
	ch.AddCertificate(provider, "987", "revoked", []byte(certPEM))
	return ch
}

// The simulator answers the provider, audit and certificate queries as
// the node's source says it does (no recording has them).
func TestRegistryAsTheNodeSourceSays(t *testing.T) {
	var files []string
	for _, glob := range []string{"provider_*", "audit_*", "certificates_*"} {
		f, err := filepath.Glob("../testdata/node-source/" + glob + ".json")
		require.NoError(t, err)
		files = append(files, f...)
	}
	require.Len(t, files, 6)
	url := registryChain().Start(t).URL
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var golden recording
		require.NoError(t, json.Unmarshal(b, &golden))
		status, answer := send(t, url, golden)
		assert.Empty(t, compareAnswers(golden, status, answer), filepath.Base(f))
	}
}

// The client reads them: the registration, the audits (none for an
// unaudited provider), the certificates by state, decoded.
func TestClientReadsTheRegistry(t *testing.T) {
	ctx := context.Background()
	c := &chain.Client{Endpoints: []string{registryChain().Start(t).URL}}
	p, err := c.ProviderInfo(ctx, provider)
	require.NoError(t, err)
	assert.Equal(t, "https://provider.example.com:8443", p.HostURI)
	assert.Len(t, p.Attributes, 3)
	_, err = c.ProviderInfo(ctx, tenant)
	assert.ErrorIs(t, err, chain.ErrNotFound)
	audits, err := c.Audits(ctx, provider)
	require.NoError(t, err)
	require.Len(t, audits, 1)
	assert.Equal(t, auditor, audits[0].Auditor)
	none, err := c.Audits(ctx, tenant)
	require.NoError(t, err)
	assert.Empty(t, none, "an unaudited provider: the node answers not found")
	valid, err := c.Certificates(ctx, provider, "valid")
	require.NoError(t, err)
	require.Len(t, valid, 1)
	assert.Equal(t, certPEM, string(valid[0].PEM))
	all, err := c.Certificates(ctx, provider, "")
	require.NoError(t, err)
	assert.Len(t, all, 2)
	_, err = c.Certificates(ctx, provider, "expired")
	assert.ErrorContains(t, err, "invalid state value")
}
