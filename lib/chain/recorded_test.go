package chain_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// recording is one answer of the real node (testdata/node-2.0.1, copied
// from shared/akash-node: app 2.0.1, cosmos-sdk v0.53.5).
type recording struct {
	Case     string            `json:"case"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    map[string]string `json:"query"`
	Status   int               `json:"status"`
	Response string            `json:"response_body"`
}

// recordedNode serves one recording's answer to whatever is asked at its
// path, and counts the requests.
func recordedNode(t *testing.T, name string) (*chain.Client, *atomic.Int32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "node-2.0.1", name+".json"))
	require.NoError(t, err)
	var r recording
	require.NoError(t, json.Unmarshal(b, &r))
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n.Add(1)
		if req.Method != r.Method || req.URL.Path != r.Path {
			http.Error(w, "not the recorded request: "+req.Method+" "+req.URL.Path, http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.Status)
		_, _ = w.Write([]byte(r.Response))
	}))
	t.Cleanup(s.Close)
	return &chain.Client{Endpoints: []string{s.URL}, Rounds: 2}, &n
}

const recordedProvider = "akash19h82qz4gncymufh7u94t0mpekmn9yurx929u0y"

// The client reads the real node's answers as they are.
func TestRecordedNodeAnswers(t *testing.T) {
	ctx := context.Background()

	c, n := recordedNode(t, "01b_list_provider_state_reclaiming")
	_, err := c.Leases(ctx, recordedProvider, chain.StateReclaiming)
	assert.ErrorIs(t, err, chain.ErrStateUnknown, "a node before 2.1 refuses the reclaiming filter")
	assert.EqualValues(t, 1, n.Load(), "a refused filter is the node's answer: no failover, no second round")
	_, err = c.Leases(ctx, recordedProvider, chain.StateActive)
	assert.NotErrorIs(t, err, chain.ErrStateUnknown, "a known state refused is an error of its own, never an empty list")
	assert.Error(t, err)

	c, _ = recordedNode(t, "01i_list_v1beta4")
	c.MarketVersion = "v1beta4"
	_, err = c.Leases(ctx, recordedProvider, chain.StateActive)
	assert.ErrorContains(t, err, "the node does not serve the v1beta4 market API")

	c, _ = recordedNode(t, "03a_node_info")
	node, err := c.NodeInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, "2.0.1", node.AppVersion)
	assert.Equal(t, "local", node.Network)
	assert.False(t, node.KnowsReclamation())
	assert.True(t, chain.NodeInfo{AppVersion: "v2.1.0-rc1"}.KnowsReclamation())

	c, _ = recordedNode(t, "04e_simulate_wrongseq")
	_, err = c.Simulate(ctx, []byte("tx"))
	var mismatch *chain.SequenceMismatch
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, uint64(20), mismatch.Expected)
	assert.Equal(t, uint64(25), mismatch.Got)

	c, _ = recordedNode(t, "04f_broadcast_wrongseq")
	resp, err := c.Broadcast(ctx, []byte("tx"))
	require.NoError(t, err)
	m, ok := resp.Mismatch()
	require.True(t, ok)
	assert.Equal(t, uint64(20), m.Expected)

	c, _ = recordedNode(t, "04l_simulate_already_closed")
	_, err = c.Simulate(ctx, []byte("tx"))
	assert.ErrorContains(t, err, "HTTP 500, code 2: failed to execute message; message index: 0: lease not active")
	assert.False(t, errors.As(err, &mismatch), "a refused message is no sequence mismatch")

	// The node answers a provider that is no address with no leases: the
	// client refuses to ask.
	for _, name := range []string{"01f_bad_provider", "01f_bad_provider_checksum"} {
		c, n := recordedNode(t, name)
		for _, bad := range []string{"akash1notanaddress", "akash19h82qz4gncymufh7u94t0mpekmn9yurx929u0z", "cosmos1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajwqw6y0"} {
			_, err := c.Leases(ctx, bad, chain.StateActive)
			assert.Error(t, err, bad)
		}
		assert.EqualValues(t, 0, n.Load(), "nothing asked")
	}
	assert.NoError(t, chain.ValidateAddress(recordedProvider))
}

// The MsgCloseBid in a transaction the real node accepted (recorded
// request 04a, signed with the CLI's encoding of lease 203) decodes, and
// our encoder writes it again byte for byte.
func TestRecordedMsgCloseBidBytes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "node-2.0.1", "04a_simulate_good.json"))
	require.NoError(t, err)
	var r struct {
		RequestBody struct {
			TxBytes []byte `json:"tx_bytes"`
		} `json:"request_body"`
	}
	require.NoError(t, json.Unmarshal(b, &r))
	var raw txtypes.TxRaw
	require.NoError(t, raw.Unmarshal(r.RequestBody.TxBytes))
	var body txtypes.TxBody
	require.NoError(t, body.Unmarshal(raw.BodyBytes))
	require.Len(t, body.Messages, 1)
	assert.Equal(t, chain.TypeURLMsgCloseBid, body.Messages[0].TypeUrl)
	m, err := chain.UnmarshalMsgCloseBid(body.Messages[0].Value)
	require.NoError(t, err)
	assert.Equal(t, chain.MsgCloseBid{ID: chain.BidID{Owner: "akash1teygfnnvxgne8m7vrcye7ep6tfpcnl34yxy9pp", DSeq: 203, GSeq: 1, OSeq: 1, Provider: recordedProvider}, Reason: 10001}, m)
	assert.Equal(t, body.Messages[0].Value, m.Marshal())
}
