package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const (
	healthy = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	faulty  = "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"
	auditor = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"
)

func createStorageClass(t *testing.T, c *kubetest.Cluster, name string, labelled bool) {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "rook-ceph.rbd.csi.ceph.com"}
	if labelled {
		sc.Labels = map[string]string{"akash.network": "true"}
	}
	_, err := c.Kube.StorageV1().StorageClasses().Create(context.Background(), sc, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

func attrs(kv ...string) []chain.Attribute {
	var out []chain.Attribute
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, chain.Attribute{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// The provider checks find each fault of a provider that wins nothing
// though everything runs, and stay quiet on a healthy one.
func TestProviderChecks(t *testing.T) {
	c := kubetest.Shared(t)
	createStorageClass(t, c, "beta2", true)
	createStorageClass(t, c, "beta3", false)

	// The healthy provider's gateway serves the certificate it published.
	gateway := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(gateway.Close)
	served := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gateway.Certificate().Raw})

	ch := chaintest.New()
	url := ch.Start(t).URL
	// Every attribute the Akash provider audit asks of every provider.
	common := attrs("host", "akash", "tier", "community", "organization", "example", "email", "ops@example.com",
		"discord-username", "example_ops", "website", "https://example.com", "status-page", "https://status.example.com",
		"location-region", "na-us-west", "country", "US", "city", "SJC", "timezone", "utc-8", "location-type", "datacenter",
		"hosting-provider", "equinix", "capabilities/cpu", "amd", "capabilities/cpu/arch", "x86-64", "capabilities/memory", "ddr5ecc",
		"network-provider", "example-isp", "network-speed-up", "1000", "network-speed-down", "1000", "feat-shm", "true",
		"capabilities/storage/2/class", "ram", "capabilities/storage/2/persistent", "false", "capabilities/ip-lease", "false",
		"feat-endpoint-ip", "false", "feat-endpoint-custom-domain", "true", "feat-persistent-storage", "true",
		"capabilities/gpu", "nvidia", "cuda", "12.7")
	gpus := attrs("capabilities/gpu/vendor/nvidia/model/a100", "true", "capabilities/gpu/vendor/nvidia/model/t4", "true",
		"capabilities/gpu/vendor/nvidia/model/h100", "true", "capabilities/gpu/vendor/nvidia/model/l40s", "true",
		"capabilities/gpu/vendor/amd/model/mi300x", "true")
	ch.SetProvider(healthy, gateway.URL, append(append(common, gpus...), attrs("capabilities/storage/1/class", "beta2", "capabilities/storage/1/persistent", "true")...)...)
	ch.SignAttributes(healthy, auditor, common[:3]...)
	ch.AddCertificate(healthy, "1", "valid", served)

	run := func(provider string, args ...string) jobtest.Result {
		base := []string{"--kubeconfig", c.KubeconfigPath, "--chain-rest", url, "--provider", provider}
		return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
	}
	r := run(healthy)
	require.Equal(t, 0, r.Code, r.Raw)
	obs := r.Message("provider observed")
	require.NotNil(t, obs, r.Raw)
	assert.Equal(t, float64(0), obs["findings"], "a healthy provider: %s", r.Raw)

	// The faulty one: a storage class advertised that nobody labelled and
	// one that does not exist, the labelled one not advertised; a GPU
	// advertised that no node has and four that are not advertised; tier
	// mistyped, no email, network speeds below the audit's 500 or not a
	// number; the organization changed since the audit; no
	// valid certificate; a gateway that does not answer.
	closed := httptest.NewServer(http.NotFoundHandler())
	hostURI := "https://" + closed.Listener.Addr().String()
	closed.Close()
	ch.SetProvider(faulty, hostURI, attrs("host", "akash", "tier", "commnity", "organization", "renamed", "location-region", "us-west",
		"network-speed-up", "100", "network-speed-down", "fast",
		"capabilities/storage/1/class", "beta3", "capabilities/storage/2/class", "beta1",
		"capabilities/gpu/vendor/nvidia/model/a100", "true", "capabilities/gpu/vendor/nvidia/model/b200", "true")...)
	ch.SignAttributes(faulty, auditor, attrs("host", "akash", "organization", "original")...)
	ch.AddCertificate(faulty, "2", "revoked", served)
	r = run(faulty)
	require.Equal(t, 0, r.Code, r.Raw)
	found := map[string][]map[string]any{}
	for _, l := range r.Lines {
		if reason, ok := l["reason"].(string); ok && l["finding"] != nil {
			found[reason] = append(found[reason], l)
		}
	}
	for reason, n := range map[string]int{"StorageClassNotLabelled": 1, "StorageClassMissing": 1, "StorageClassNotAdvertised": 1,
		"GPUAdvertisedNotPresent": 1, "GPUNotAdvertised": 4, "AttributeMissing": 26, "AuditNoLongerMatches": 1,
		"CertificateNotOnChain": 1, "ProviderEndpointUnreachable": 1} {
		assert.Len(t, found[reason], n, "%s: %s", reason, r.Raw)
	}
	assert.Contains(t, found["StorageClassNotLabelled"][0]["message"], "kubectl label storageclass beta3 akash.network=true")
	missing := ""
	for _, f := range found["AttributeMissing"] {
		missing += f["message"].(string) + "\n"
	}
	for _, want := range []string{`attribute tier is "commnity", not "community"`, "have no discord-username", "have no timezone",
		`attribute location-region is "us-west", which is not of the form the Akash provider audit asks`,
		`attribute network-speed-down is "fast": the Akash provider audit asks a number of at least 500`,
		`attribute capabilities/storage/2/class is "beta1", not "ram"`, "the nodes have GPUs and the provider's attributes have no cuda"} {
		assert.Contains(t, missing, want)
	}
	assert.Equal(t, "StorageClass/beta3", found["StorageClassNotLabelled"][0]["object"])
	assert.Contains(t, found["GPUAdvertisedNotPresent"][0]["message"], "advertises GPU nvidia/b200")
	assert.Contains(t, found["AuditNoLongerMatches"][0]["message"], `auditor `+auditor+`: organization ("renamed", signed "original")`)
	assert.Equal(t, "Pod/akash-services/akash-provider-0", found["CertificateNotOnChain"][0]["object"])

	// A certificate published but not the one the gateway serves.
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	t.Cleanup(other.Close)
	ch.SetProvider(healthy, other.URL, append(append(common, gpus...), attrs("capabilities/storage/1/class", "beta2", "capabilities/storage/1/persistent", "true")...)...)
	r = run(healthy)
	require.Equal(t, 0, r.Code, r.Raw)
	assert.NotNil(t, r.With("reason", "CertificateNotServed"), r.Raw)
	assert.Len(t, r.With("reason", "CertificateNotServed"), 1)

	// A chain that does not answer: the GPU checks still report, the run
	// says why the provider checks did not run and exits 1.
	ch.FailNext(100, 503)
	r = run(healthy)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "the provider checks did not run")
	assert.NotNil(t, r.Message("observed"))

	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--chain-rest", url)
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "the provider checks need both --chain-rest and --provider")
}

// selfSigned is a certificate of its own (httptest's TLS servers all share
// one).
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "provider.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
