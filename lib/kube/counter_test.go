package kube

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDescribeRequest(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/api/v1/namespaces", "LIST namespaces"},
		{"GET", "/api/v1/namespaces/lease", "GET namespaces"},
		{"GET", "/api/v1/pods?fieldSelector=status.phase%3DPending", "LIST pods"},
		{"GET", "/api/v1/namespaces/ns1/pods", "LIST pods"},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=true", "WATCH pods"},
		{"DELETE", "/apis/apps/v1/namespaces/ns1/replicasets/web-1", "DELETE replicasets"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/ns1/events", "POST events"},
		{"POST", "/api/v1/namespaces/akash-services/pods/akash-provider-0/exec", "POST pods/exec"},
		{"GET", "/apis/akash.network/v2beta2/namespaces/lease/manifests", "LIST manifests"},
		{"GET", "/apis", "GET /apis"},
	}
	for _, tt := range tests {
		u, err := url.Parse("https://127.0.0.1" + tt.path)
		assert.NoError(t, err)
		assert.Equal(t, tt.want, describe(&http.Request{Method: tt.method, URL: u}), tt.path)
	}
}

func TestRequestCounterString(t *testing.T) {
	var c RequestCounter
	c.add("LIST pods")
	c.add("LIST pods")
	c.add("DELETE replicasets")
	assert.Equal(t, 3, c.Total())
	assert.Equal(t, "DELETE replicasets=1, LIST pods=2", c.String())
}
