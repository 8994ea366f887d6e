package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "control-plane-1", CPU: "4", Memory: "8Gi"}))
}

// certPEM makes a self-signed certificate that expires after d.
func certPEM(t *testing.T, cn string, d time.Duration) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(d)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func write(t *testing.T, root, path string, b []byte) {
	t.Helper()
	full := filepath.Join(root, path)
	require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
	require.NoError(t, os.WriteFile(full, b, 0o644))
}

func kubeconfigWith(t *testing.T, user string, data []byte, file string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: data, ClientCertificate: file}
	cfg.Contexts["k"] = &clientcmdapi.Context{Cluster: "k", AuthInfo: user}
	cfg.CurrentContext = "k"
	b, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return b
}

const day = 24 * time.Hour

// A control-plane node's files, kubeadm and kubespray style.
func node(t *testing.T) string {
	root := t.TempDir()
	write(t, root, "etc/kubernetes/pki/ca.crt", certPEM(t, "kubernetes", 3650*day))
	write(t, root, "etc/kubernetes/pki/apiserver.crt", certPEM(t, "kube-apiserver", 100*day))
	write(t, root, "etc/kubernetes/pki/apiserver.key", []byte("-----BEGIN EC PRIVATE KEY-----\nnot read\n-----END EC PRIVATE KEY-----\n"))
	// A bundle: two certificates, the second expiring soon.
	write(t, root, "etc/kubernetes/pki/front-proxy-bundle.crt", append(certPEM(t, "front-proxy-ca", 3650*day), certPEM(t, "front-proxy-client", 20*day)...))
	write(t, root, "etc/ssl/etcd/ssl/member-node1.pem", certPEM(t, "etcd-member-node1", 3*day))
	write(t, root, "etc/kubernetes/pki/corrupt.crt", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	write(t, root, "etc/kubernetes/pki/empty.pem", []byte("nothing here\n"))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc/kubernetes/pki/odd.crt"), 0o755))
	write(t, root, "etc/kubernetes/admin.conf", kubeconfigWith(t, "kubernetes-admin", certPEM(t, "kubernetes-admin", 200*day), ""))
	write(t, root, "etc/kubernetes/scheduler.conf", kubeconfigWith(t, "system:kube-scheduler", certPEM(t, "system:kube-scheduler", -2*day), ""))
	write(t, root, "var/lib/kubelet/pki/kubelet-client-current.pem", certPEM(t, "system:node:node1", 300*day))
	write(t, root, "etc/kubernetes/kubelet.conf", kubeconfigWith(t, "default-auth", nil, "/var/lib/kubelet/pki/kubelet-client-current.pem"))
	write(t, root, "etc/kubernetes/controller-manager.conf", kubeconfigWith(t, "system:kube-controller-manager", nil, "/var/lib/missing.pem"))
	write(t, root, "etc/kubernetes/broken.conf", []byte("{{{ not yaml"))
	return root
}

func TestCertExpiry(t *testing.T) {
	c := kubetest.Shared(t)
	root := node(t)
	r := jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--root", root, "--node-name", "control-plane-1")
	assert.Equal(t, 1, r.Code, "a certificate below --critical-days fails the run, so the failed Job alerts")

	valid := map[string]bool{}
	for _, l := range r.With("message", "certificate valid") {
		valid[l["file"].(string)+" "+l["subject"].(string)] = true
	}
	for _, want := range []string{
		"/etc/kubernetes/pki/ca.crt CN=kubernetes",
		"/etc/kubernetes/pki/apiserver.crt CN=kube-apiserver",
		"/etc/kubernetes/pki/front-proxy-bundle.crt CN=front-proxy-ca",
		"/etc/kubernetes/admin.conf user kubernetes-admin CN=kubernetes-admin",
		"/etc/kubernetes/kubelet.conf user default-auth (/var/lib/kubelet/pki/kubelet-client-current.pem) CN=system:node:node1",
	} {
		assert.True(t, valid[want], "valid: %s (have %v)", want, valid)
	}
	findings := map[string]string{}
	apiserver := len(r.With("source", "apiserver"))
	for _, l := range r.With("finding", "certificate-expiring") {
		if strings.Contains(l["message"].(string), "(CN=localhost,O=envtest)") {
			apiserver++ // envtest's serving certificate lasts a week: a finding itself
			continue
		}
		findings[l["subject"].(string)] = l["message"].(string)
	}
	assert.Equal(t, 1, apiserver, "the API server's serving certificate is checked too")
	require.Len(t, findings, 3, "%v", findings)
	assert.Contains(t, findings["/etc/kubernetes/pki/front-proxy-bundle.crt"], "warning: certificate")
	assert.Contains(t, findings["/etc/ssl/etcd/ssl/member-node1.pem"], "critical: certificate")
	assert.Contains(t, findings["/etc/kubernetes/scheduler.conf user system:kube-scheduler"], "EXPIRED")
	assert.Contains(t, findings["/etc/ssl/etcd/ssl/member-node1.pem"], "kubeadm certs renew all", "the runbook's steps in one line")

	unreadable := map[string]string{}
	for _, l := range r.With("reason", "CertificateUnreadable") {
		unreadable[l["file"].(string)] = l["error"].(string)
	}
	assert.Contains(t, unreadable["/etc/kubernetes/pki/corrupt.crt"], "corrupt certificate")
	assert.Contains(t, unreadable["/etc/kubernetes/pki/empty.pem"], "no PEM certificate")
	assert.Contains(t, unreadable["/etc/kubernetes/pki/odd.crt"], "is a directory")
	assert.Contains(t, unreadable["/etc/kubernetes/broken.conf"], "not a kubeconfig")
	assert.Contains(t, unreadable["/etc/kubernetes/controller-manager.conf user system:kube-controller-manager (/var/lib/missing.pem)"], "no such file")
	assert.Len(t, unreadable, 5)
	assert.NotContains(t, r.Raw, "apiserver.key")
	assert.Contains(t, r.Summary()["error"], "certificates expire within 7 days (or have expired)")

	events, err := c.Kube.EventsV1().Events("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	n := 0
	for _, e := range events.Items {
		if e.Reason == "CertificateExpiring" && e.Regarding.Name == "control-plane-1" && !strings.Contains(e.Note, "envtest") {
			assert.Equal(t, "Warning", e.Type)
			n++
		}
	}
	assert.Equal(t, 3, n)

	// Only warnings: the run succeeds, and says so.
	healthy := t.TempDir()
	write(t, healthy, "etc/kubernetes/pki/apiserver.crt", certPEM(t, "kube-apiserver", 25*day))
	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--root", healthy, "--apiserver=false")
	assert.Equal(t, 0, r.Code)
	require.Len(t, r.With("finding", "certificate-expiring"), 1)
	assert.True(t, strings.HasPrefix(r.With("finding", "certificate-expiring")[0]["message"].(string), "warning: "))

	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--warn-days=5", "--critical-days=10")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "want 0 <= critical <= warn")
}
