package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

func gpuNode(name, vendor string, allocatable, labelled int64) node {
	n := node{name: name, ready: true, allocatable: map[string]int64{vendor: allocatable}, labelled: map[string]int64{vendor: labelled},
		models: map[string][]string{vendor: {vendor + "/x"}}}
	return n
}

func TestDiagnose(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	notReady := gpuNode("not-ready", "nvidia", 4, 0) // its labels taken off by the inventory operator
	notReady.ready, notReady.notReady = false, "Ready Unknown since 2026-11-22T11:00:00Z (NodeStatusUnknown)"
	cordoned := gpuNode("cordoned", "nvidia", 2, 0)
	cordoned.cordoned = true
	st := state{
		nodes: []node{
			gpuNode("ok", "nvidia", 8, 8),
			gpuNode("plugin-crashing", "nvidia", 2, 2),
			{name: "cpu", ready: true},
			notReady, cordoned,
			gpuNode("amd-ok", "amd", 8, 8),
			gpuNode("amd-unlabelled", "amd", 2, 0),
			gpuNode("amd-no-plugin", "amd", 4, 4),
			gpuNode("amd-dead", "amd", 0, 4),
			gpuNode("undercounted", "nvidia", 8, 6),
		},
		plugins: []plugin{
			{node: "ok", name: "kube-system/dp-1", ready: true, vendor: "nvidia"},
			{node: "plugin-crashing", name: "kube-system/dp-2", ready: false, vendor: "nvidia"},
			{node: "amd-ok", name: "kube-system/amd-1", ready: true, vendor: "amd"},
			{node: "amd-unlabelled", name: "kube-system/amd-2", ready: true, vendor: "amd"},
			{node: "amd-dead", name: "kube-system/amd-3", ready: true, vendor: "amd"},
			// An NVIDIA plugin on an AMD node serves none of its GPUs.
			{node: "amd-no-plugin", name: "kube-system/dp-x", ready: true, vendor: "nvidia"},
			{node: "undercounted", name: "kube-system/dp-u", ready: true, vendor: "nvidia"},
		},
		pending: []pendingPod{
			{namespace: "t", name: "young", gpus: 1, since: now.Add(-time.Minute)},
			{namespace: "t", name: "old", gpus: 1, since: now.Add(-time.Hour)},
		},
	}
	got := map[string]string{}
	for _, f := range plan(st, now, 10*time.Minute, []string{"app=dp", "name=amd-dp"}) {
		got[f.Target.String()+" "+f.Verb] = f.Message
	}
	assert.Len(t, got, 8, "%v", got)
	assert.Contains(t, got["Node/undercounted gpu-count-mismatch"], "has 8 allocatable nvidia.com/gpu but its inventory labels count 6")
	assert.Contains(t, got["Node/plugin-crashing gpu-device-plugin-missing"], "device plugin pod kube-system/dp-2 is not ready")
	assert.Contains(t, got["Node/plugin-crashing gpu-device-plugin-missing"], "kubectl get pods -A -l 'app=dp' (or -l) 'name=amd-dp' -o wide")
	assert.Contains(t, got["Pod/t/old gpu-pod-pending"], "Pending for 1h0m0s: not scheduled yet")
	// NotReady and cordoned GPU nodes: said as such, no labelling fault.
	assert.Equal(t, "GPU node not-ready is not Ready (Ready Unknown since 2026-11-22T11:00:00Z (NodeStatusUnknown)): the inventory operator offers none of "+
		"its GPUs until it is Ready and schedulable again (its labels come back then); nothing else is checked on it", got["Node/not-ready gpu-node-unavailable"])
	assert.Contains(t, got["Node/cordoned gpu-node-unavailable"], "GPU node cordoned is cordoned:")
	assert.NotContains(t, got, "Node/not-ready gpu-not-labelled")
	assert.NotContains(t, got, "Node/cordoned gpu-not-labelled")
	// AMD's GPUs, their resource, labels, steps and plugin.
	assert.Contains(t, got["Node/amd-unlabelled gpu-not-labelled"], "2 allocatable amd.com/gpu but no akash.network/capabilities.gpu.vendor.amd labels")
	assert.Contains(t, got["Node/amd-dead gpu-not-allocatable"], "no allocatable amd.com/gpu")
	assert.Contains(t, got["Node/amd-dead gpu-not-allocatable"], "amd-smi list")
	assert.Equal(t, "GPU node amd-no-plugin has no amd device plugin pod: new GPU pods cannot start there and its GPUs may vanish from allocatable. "+
		"Try: kubectl get pods -A -l 'app=dp' (or -l) 'name=amd-dp' -o wide; check the plugin's logs and that its version supports the driver",
		got["Node/amd-no-plugin gpu-device-plugin-missing"])
}

// The provider's certificate on chain: reported within the warning window
// and once expired, quiet before.
func TestPlanProviderCertificateExpiry(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	certPEM := func(notAfter time.Time) []byte {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "akash1provider"}, NotBefore: now.Add(-365 * 24 * time.Hour), NotAfter: notAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	pod := actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "akash-services", Name: "akash-provider-0"}
	reasons := func(notAfter time.Time) []string {
		ps := &providerState{address: "akash1x", certs: []chain.Certificate{{Serial: "7", State: "valid", PEM: certPEM(notAfter)}}}
		var out []string
		for _, f := range planProvider(ps, now, nil, 30*24*time.Hour, pod) {
			out = append(out, f.Reason)
			if f.Reason == "CertificateExpiring" {
				assert.Contains(t, f.Message, "provider-services tx cert generate server")
			}
		}
		return out
	}
	assert.Empty(t, reasons(now.Add(90*24*time.Hour)))
	assert.Equal(t, []string{"CertificateExpiring"}, reasons(now.Add(10*24*time.Hour)))
	assert.Equal(t, []string{"CertificateExpiring"}, reasons(now.Add(-24*time.Hour)), "expired")
}
