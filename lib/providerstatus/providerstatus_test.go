package providerstatus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/providerstatus"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus/providerstatustest"
)

const address = "akash19h82qz4gncymufh7u94t0mpekmn9yurx929u0y"

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// The answers written from the provider's source read as the counts an
// operator would read off them.
func TestParseTheProvidersAnswers(t *testing.T) {
	for name, want := range map[string]providerstatus.Status{
		"status_3_leases.json":            {Address: address, Leases: 3, Active: 3, InventoryReady: true},
		"status_0_leases.json":            {Address: address, InventoryReady: true},
		"status_leaked.json":              {Address: address, Leases: 5, Active: 3, Pending: 2, InventoryReady: true, Orders: 1},
		"status_inventory_not_ready.json": {Address: address},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := providerstatus.Parse(golden(t, name))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// Anything but the provider's status is an error, never zero leases.
func TestParseRefusesWhatIsNotAStatus(t *testing.T) {
	for body, want := range map[string]string{
		`<html>502 Bad Gateway</html>`:                 "not the expected JSON",
		`{"status":"ok"}`:                              "no cluster.leases",
		`{"cluster":{"inventory":{}}}`:                 "no cluster.leases",
		`{"cluster":{"leases":"3"}}`:                   "not the expected JSON",
		`{"cluster":{"leases":-1}}`:                    "counts -1 leases",
		`{"cluster":{"leases":2,"inventory":` + "\x00": "not the expected JSON",
	} {
		_, err := providerstatus.Parse([]byte(body))
		assert.ErrorContains(t, err, want, body)
	}
}

// paths is every path of a JSON value with its type, array elements
// sharing one path.
func paths(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var x any
	require.NoError(t, json.Unmarshal(b, &x))
	out := map[string]bool{}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, p+"."+k)
			}
		case []any:
			for _, e := range x {
				walk(e, p+"[]")
			}
		default:
			out[fmt.Sprintf("%s: %T", p, x)] = true
		}
	}
	walk(x, "")
	var list []string
	for p := range out {
		list = append(list, p)
	}
	sort.Strings(list)
	return list
}

// The stand-in the job's tests and the demo ask answers in the shape of
// the provider's source, path for path.
func TestStandInAnswersInTheProvidersShape(t *testing.T) {
	var three, zero, leaked any
	require.NoError(t, json.Unmarshal(golden(t, "status_3_leases.json"), &three))
	require.NoError(t, json.Unmarshal(golden(t, "status_0_leases.json"), &zero))
	require.NoError(t, json.Unmarshal(golden(t, "status_leaked.json"), &leaked))
	delete(three.(map[string]any), "reclamation_window") // main only, with --reclamation-window
	assert.Equal(t, paths(t, three), paths(t, providerstatustest.Body(providerstatustest.Counts{Leases: 3, Active: 3}, address)))
	assert.Equal(t, paths(t, zero), paths(t, providerstatustest.Body(providerstatustest.Counts{}, address)))
	standIn := paths(t, providerstatustest.Body(providerstatustest.Counts{Leases: 5, Active: 3, Pending: 2}, address))
	for _, p := range paths(t, leaked) {
		assert.Contains(t, standIn, p)
	}
}

// The reader asks over TLS with the provider's own certificate, sends no
// credentials, and says what went wrong when the provider does not answer.
func TestReaderAgainstTheStandIn(t *testing.T) {
	ctx := context.Background()
	counts := providerstatustest.Counts{Leases: 4, Active: 3, Pending: 1}
	srv := providerstatustest.Start(t, address, func() (providerstatustest.Counts, error) { return counts, nil })
	r, err := providerstatus.NewReader(srv.StatusURL(), 2*time.Second)
	require.NoError(t, err)
	got, err := r.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, providerstatus.Status{Address: address, Leases: 4, Active: 3, Pending: 1, InventoryReady: true}, got)
	assert.Equal(t, 4, got.Reservations())
	all, credentialed := srv.Requests()
	assert.Equal(t, 1, all)
	assert.Zero(t, credentialed, "no authorization header, no client certificate")

	srv.FailNext(1)
	_, err = r.Read(ctx)
	assert.ErrorContains(t, err, "HTTP 503")

	hang := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	slow, err := providerstatus.NewReader(hang.URL+"/status", 200*time.Millisecond)
	require.NoError(t, err)
	_, err = slow.Read(ctx)
	assert.ErrorContains(t, err, "deadline exceeded")

	gone, err := providerstatus.NewReader("https://127.0.0.1:1/status", time.Second)
	require.NoError(t, err)
	_, err = gone.Read(ctx)
	assert.ErrorContains(t, err, "read the provider's status")

	for _, bad := range []string{"", "akash-provider:8443", "ftp://x/status", "https://"} {
		_, err := providerstatus.NewReader(bad, time.Second)
		assert.ErrorContains(t, err, "want https://host:8443/status", bad)
	}
}
