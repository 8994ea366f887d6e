package kube

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the requests a client makes, by verb and resource. It
// is how tests and benchmarks check that a job reads the cluster in a constant
// number of calls however many leases there are.
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// Instrument makes cfg's clients count their requests on c.
func (c *RequestCounter) Instrument(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.add(describe(req))
			return next.RoundTrip(req)
		})
	})
}

// Total is the number of requests made.
func (c *RequestCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Counts returns a copy of the counts keyed "VERB resource", e.g. "LIST pods".
func (c *RequestCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// String lists the counts in a stable order, for logs and test failures.
func (c *RequestCounter) String() string {
	counts := c.Counts()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Itoa(counts[k]))
	}
	return b.String()
}

func (c *RequestCounter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[key]++
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// describe names a request as "VERB resource": a GET on a collection is a LIST,
// a GET on a named object a GET. Subresources are kept (pods/exec).
func describe(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/... or /apis/<group>/<version>/...
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return req.Method + " " + req.URL.Path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	verb := req.Method
	resource := ""
	switch len(parts) {
	case 0:
		resource = "discovery"
	case 1:
		resource = parts[0]
		if verb == http.MethodGet {
			verb = "LIST"
			if req.URL.Query().Get("watch") == "true" {
				verb = "WATCH"
			}
		}
	case 2:
		resource = parts[0]
	default:
		resource = parts[0] + "/" + parts[2]
	}
	return verb + " " + resource
}
