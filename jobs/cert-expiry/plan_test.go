package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	certs := []cert{
		{source: "file", where: "/etc/kubernetes/pki/expired.crt", subject: "CN=old", notAfter: now.Add(-24 * time.Hour)},
		{source: "file", where: "/etc/kubernetes/pki/apiserver.crt", subject: "CN=kube-apiserver", notAfter: now.Add(3*24*time.Hour + time.Hour)},
		{source: "kubeconfig", where: "/etc/kubernetes/admin.conf user kubernetes-admin", subject: "CN=kubernetes-admin", notAfter: now.Add(20 * 24 * time.Hour)},
		{source: "apiserver", where: "10.0.0.1:6443", subject: "CN=kube-apiserver", notAfter: now.Add(200 * 24 * time.Hour)},
	}
	p := plan(certs, now, 30, 7, "cp-1")
	assert.Equal(t, 2, p.critical, "the expired one and the one in 3 days")
	require.Len(t, p.checked, 4)
	assert.Equal(t, []string{"critical", "critical", "warning", ""}, []string{p.checked[0].level, p.checked[1].level, p.checked[2].level, p.checked[3].level})
	assert.Equal(t, 3.0, p.checked[1].daysLeft, "floored to a tenth")
	assert.Equal(t, -1.0, p.checked[0].daysLeft)
	require.Len(t, p.findings, 3, "the valid one is no finding")
	assert.Equal(t, actuator.Ref{APIVersion: "v1", Kind: "Node", Name: "cp-1"}, p.findings[0].Target)
	assert.Contains(t, p.findings[0].Message, "critical: certificate /etc/kubernetes/pki/expired.crt (CN=old) EXPIRED 2026-12-01T12:00:00Z; renew")
	assert.Contains(t, p.findings[2].Message, "warning: certificate /etc/kubernetes/admin.conf user kubernetes-admin (CN=kubernetes-admin) expires 2026-12-22T12:00:00Z, in 20.0 days")
	assert.Equal(t, "CertificateExpiring", p.findings[2].Reason)
}
