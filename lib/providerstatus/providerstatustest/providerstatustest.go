// Package providerstatustest is a stand-in for an akash-provider's
// gateway status (GET /status on 8443, over TLS with a certificate no CA
// signed, as the provider's own), answering in the shape of the
// provider's source (lib/providerstatus/testdata), for tests and the demo.
package providerstatustest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Counts are what the stand-in says: the leases it holds and its
// reservations.
type Counts struct {
	Leases, Active, Pending int
}

// Server answers GET /status with what Counts returns at each request;
// an error answers HTTP 503, as a provider that is not up.
type Server struct {
	*httptest.Server
	// Counts is asked at every request.
	Counts func() (Counts, error)
	// Address is the provider's account in the answer.
	Address string

	mu       sync.Mutex
	requests int
	// refused counts requests that carried what the provider's gateway
	// would judge: an authorization header or a client certificate.
	refused int
	fail    int
}

// Start serves the status until the test ends.
func Start(t interface{ Cleanup(func()) }, address string, counts func() (Counts, error)) *Server {
	s := &Server{Counts: counts, Address: address}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// StatusURL is the status endpoint.
func (s *Server) StatusURL() string { return s.Server.URL + "/status" }

// FailNext makes the next n requests answer HTTP 503.
func (s *Server) FailNext(n int) { s.mu.Lock(); s.fail = n; s.mu.Unlock() }

// Requests is the number of status requests served; Credentialed those
// that carried an authorization header or a client certificate, which a
// reader of the public status must never send.
func (s *Server) Requests() (all, credentialed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.refused
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	if r.Header.Get("Authorization") != "" || (r.TLS != nil && len(r.TLS.PeerCertificates) > 0) {
		s.refused++
	}
	fail := s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if r.Method != http.MethodGet || r.URL.Path != "/status" {
		http.NotFound(w, r)
		return
	}
	if fail {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	c, err := s.Counts()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(Body(c, s.Address))
}

// Body is a status answer with the counts, in the provider's shape:
// one reservation entry of resources per reservation.
func Body(c Counts, address string) map[string]any {
	// A reservation's resources; persistent storage by class (omitted by
	// the provider when the lease has none).
	reservation := map[string]any{"cpu": 1000, "gpu": 0, "memory": 1 << 30, "storage_ephemeral": 2 << 30, "storage": map[string]any{"beta3": 10 << 30}}
	list := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = reservation
		}
		return out
	}
	resources := map[string]any{"cpu": 31800, "gpu": 2, "memory": 133143986176, "storage_ephemeral": 1888745838592}
	inventory := map[string]any{"available": map[string]any{
		"nodes":   []any{map[string]any{"name": "node1", "allocatable": resources, "available": resources}},
		"storage": []any{map[string]any{"class": "beta3", "size": 981671960576}},
	}}
	// omitempty: the provider leaves empty lists out.
	if c.Active > 0 {
		inventory["active"] = list(c.Active)
	}
	if c.Pending > 0 {
		inventory["pending"] = list(c.Pending)
	}
	return map[string]any{
		"cluster":                 map[string]any{"leases": c.Leases, "inventory": inventory},
		"bidengine":               map[string]any{"orders": 0},
		"manifest":                map[string]any{"deployments": c.Leases},
		"cluster_public_hostname": "provider.example.com",
		"address":                 address,
	}
}
