package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// certExpiry runs cert-expiry over a control-plane node's /etc/kubernetes,
// made up here: one certificate expiring in 20 days, the rest fine.
func (d *demo) certExpiry() error {
	root, err := os.MkdirTemp("", "akash-janitor-demo-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	for name, life := range map[string]time.Duration{
		"ca.crt": 3650 * 24 * time.Hour, "apiserver.crt": 200 * 24 * time.Hour, "front-proxy-client.crt": 20 * 24 * time.Hour,
	} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name[:len(name)-4]},
			NotBefore: time.Now(), NotAfter: time.Now().Add(life)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return err
		}
		path := filepath.Join(root, "etc/kubernetes/pki", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return err
		}
	}
	say("cert-expiry, over a control-plane node's /etc/kubernetes/pki (made up: one certificate expires in\n" +
		"20 days) and the API server's serving certificate (the simulated cluster's lasts a week):")
	// The simulated API server's certificate lasts a week: with the default
	// --critical-days=7 the run would fail, which is how a real one alerts.
	return d.runJob("cert-expiry", "--root", root, "--node-name", "control-plane-1", "--critical-days=3")
}
