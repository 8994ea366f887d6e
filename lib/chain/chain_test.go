package chain_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func TestParsesTheNodesAnswer(t *testing.T) {
	var queries []string
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Query().Get("pagination.key") != "" {
			w.Write([]byte(`{"leases":[],"pagination":{"next_key":null,"total":"0"}}`))
			return
		}
		w.Write(golden(t, "leases_list_v1beta5.json"))
	})
	c := &chain.Client{Endpoints: []string{url}}
	leases, err := c.Leases(context.Background(), provider, chain.StateActive)
	require.NoError(t, err)
	require.Len(t, leases, 2)
	assert.Equal(t, "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h/8438017/1/1/"+provider, leases[0].ID.String())
	assert.Equal(t, "5reb3l87s85t50v77sosktvdeeg6pfbnlboigoprqv3d4", leases[0].ID.Namespace(), "the runbook's lease")
	assert.Equal(t, chain.StateActive, leases[0].State)
	assert.Equal(t, int64(8438020), leases[0].CreatedAt)
	assert.Equal(t, "21.000000000000000000", leases[0].Price.Amount)
	assert.Equal(t, uint32(2), leases[1].BSeq)
	assert.Equal(t, chain.StateReclaiming, leases[1].State)
	require.NotNil(t, leases[1].Reclamation)
	assert.Equal(t, 24*time.Hour, leases[1].Reclamation.Window)
	assert.Equal(t, time.Unix(9214124, 0).UTC(), leases[1].Reclamation.Deadline, "unix seconds, as the chain keeps it")

	// The first page carries the filters; the next, the key alone.
	require.Len(t, queries, 2)
	assert.Contains(t, queries[0], "filters.provider="+provider)
	assert.Contains(t, queries[0], "filters.state=active")
	assert.Equal(t, "pagination.key=AQIDBA%3D%3D&pagination.limit=1000", queries[1], "no filters with a key")
}

func TestLeaseByIDAndNotFound(t *testing.T) {
	ch := chaintest.New()
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1, Provider: provider}
	ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 10})
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	l, err := c.Lease(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, id, l.ID)

	other := id
	other.DSeq++
	_, err = c.Lease(context.Background(), other)
	assert.ErrorIs(t, err, chain.ErrNotFound)

	// The node's own NotFound body is understood.
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write(golden(t, "lease_not_found.json"))
	})
	_, err = (&chain.Client{Endpoints: []string{url}}).Lease(context.Background(), id)
	assert.ErrorIs(t, err, chain.ErrNotFound)
}

func TestSimulatorSpeaksTheNodesShape(t *testing.T) {
	ch := chaintest.New().WithReclamation() // the golden is of a 2.1 node: its leases carry reclamation
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: provider},
		State: chain.StateReclaiming, Reclamation: &chain.Reclamation{Window: time.Hour, StartedAt: 1, Deadline: time.Unix(1767225600, 0).UTC(), Reason: "lease_closed_reason_decommission"}})
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 2, GSeq: 1, OSeq: 1, Provider: provider}, State: chain.StateActive})
	resp, err := http.Get(ch.Start(t).URL + "/akash/market/v1beta5/leases/list?filters.provider=" + provider + "&pagination.limit=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sim, want any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sim))
	require.NoError(t, json.Unmarshal(golden(t, "leases_list_v1beta5.json"), &want))
	assert.Equal(t, keys(want, ""), keys(sim, ""), "the simulator answers with the node's fields, nothing more or less")
}

// keys lists every key path of a JSON value (array elements merged).
func keys(v any, prefix string) []string {
	set := map[string]bool{}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				set[p+"."+k] = true
				walk(x, p+"."+k)
			}
		case []any:
			for _, x := range v {
				walk(x, p+"[]")
			}
		}
	}
	walk(v, prefix)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPaginationAcrossPages(t *testing.T) {
	ch := chaintest.New()
	for i := 0; i < 250; i++ {
		state := chain.StateActive
		if i%5 == 0 {
			state = chain.StateClosed
		}
		ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: uint64(1000 + i), GSeq: 1, OSeq: 1, Provider: provider}, State: state})
	}
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: "akash1fxa9ss3dg6nqyz8aluyaa6svypgprk5tw9fa4q"}, State: chain.StateActive})
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}, PageLimit: 30}
	active, err := c.Leases(context.Background(), provider, chain.StateActive)
	require.NoError(t, err)
	assert.Len(t, active, 200, "every page, only this provider's, only active")
	assert.EqualValues(t, 7, c.Requests(), "200 leases in pages of 30")
	all, err := c.Leases(context.Background(), provider, "")
	require.NoError(t, err)
	assert.Len(t, all, 250)
}

func TestFailsClosedOnBadAnswers(t *testing.T) {
	ctx := context.Background()
	ch := chaintest.New()
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: provider}, State: chain.StateActive})
	url := ch.Start(t).URL
	c := &chain.Client{Endpoints: []string{url}, Timeout: 300 * time.Millisecond}

	ch.Garble(true)
	_, err := c.Leases(ctx, provider, chain.StateActive)
	require.Error(t, err, "a page that does not parse is an error, not an empty list")
	assert.Contains(t, err.Error(), "not the expected JSON")
	ch.Garble(false)

	ch.LoopPages(true)
	_, err = (&chain.Client{Endpoints: []string{url}, PageLimit: 1}).Leases(ctx, provider, chain.StateActive)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pagination does not finish")
	ch.LoopPages(false)

	ch.Hang(time.Second)
	_, err = c.Leases(ctx, provider, chain.StateActive)
	require.Error(t, err, "an unreachable node is an error")
	ch.Hang(0)

	for body, want := range map[string]string{
		`{"pagination":{}}`:                  `no "leases" field`,
		`{"leases":[{"escrow_payment":{}}]}`: "leases[0] has no lease",
		`{"leases":[{"lease":{"id":{"owner":"","dseq":"1","gseq":1,"oseq":1,"provider":"y"},"state":"active"}}]}`:                                                             "lease id: owner is empty",
		`{"leases":[{"lease":{"id":{"owner":"akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h","dseq":"-1","gseq":1,"oseq":1,"provider":"` + provider + `"},"state":"active"}}]}`: "dseq",
		`{"leases":[{"lease":{"id":{"owner":"akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h","dseq":"1","gseq":1,"oseq":1,"provider":"` + provider + `"},"state":"paused"}}]}`:  `unknown state "paused"`,
	} {
		u := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
		_, err := (&chain.Client{Endpoints: []string{u}}).Leases(ctx, provider, "")
		if assert.Error(t, err, body) {
			assert.Contains(t, err.Error(), want, body)
		}
	}
}

func TestFailoverToTheNextEndpoint(t *testing.T) {
	ch := chaintest.New()
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: provider}, State: chain.StateActive})
	good := ch.Start(t).URL
	down := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"code":14,"message":"node is syncing"}`))
	})
	c := &chain.Client{Endpoints: []string{down, good}}
	leases, err := c.Leases(context.Background(), provider, "")
	require.NoError(t, err)
	assert.Len(t, leases, 1)

	// Every endpoint down, for every round: the error names each.
	ch.FailNext(10, http.StatusBadGateway)
	c = &chain.Client{Endpoints: []string{down, good}, Rounds: 2}
	_, err = c.Leases(context.Background(), provider, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node is syncing")
	assert.Contains(t, err.Error(), "simulated failure")
	assert.Equal(t, 1, strings.Count(err.Error(), "node is syncing"), "the same answer said once")
	assert.Contains(t, err.Error(), "node is syncing (2 times)", "with how often, two rounds")

	_, err = (&chain.Client{}).Leases(context.Background(), provider, "")
	assert.ErrorContains(t, err, "no chain REST endpoint configured")
	_, err = (&chain.Client{Endpoints: []string{"api.akash.net"}}).Leases(context.Background(), provider, "")
	assert.ErrorContains(t, err, `"api.akash.net": want http(s)://host[:port]`)
}
