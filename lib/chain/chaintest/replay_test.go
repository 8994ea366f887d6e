package chaintest_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// The recordings of real nodes (lib/chain/testdata: node-2.0.1,
// node-2.0.1-run2, node-2.1.0-rc12), replayed against the simulator: the
// chain seeded with the state each recording shows, the recorded request
// sent as it was, and the answers compared: status, the shape of the body
// (every path and the JSON type at it), and every value but those that
// depend on what the simulator does not model (block hashes and times,
// escrow accrual, event payloads, the node's build); gas within 20%. The
// 2.0.1 recordings are replayed against chaintest.New(), the 2.1.0-rc12
// ones against New().WithReclamation().

type recording struct {
	Case        string            `json:"case"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       map[string]string `json:"query"`
	RequestBody json.RawMessage   `json:"request_body"`
	Status      int               `json:"status"`
	Response    string            `json:"response_body"`
	RecordedAt  string            `json:"recorded_at"`
}

func loadRecordings(t *testing.T, set *recordingSet) map[string]recording {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(set.dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, set.count, "every recording of %s", set.dir)
	out := map[string]recording{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var r recording
		require.NoError(t, json.Unmarshal(b, &r), f)
		// The sets of 2026-12-04 keep the request body as the text sent.
		var text string
		if json.Unmarshal(r.RequestBody, &text) == nil {
			r.RequestBody = json.RawMessage(text)
		}
		out[r.Case] = r
	}
	return out
}

// The node-2.0.1 recordings' accounts.
const (
	provider = "akash19h82qz4gncymufh7u94t0mpekmn9yurx929u0y"
	tenant   = "akash1teygfnnvxgne8m7vrcye7ep6tfpcnl34yxy9pp"
)

// wireID is a lease's or bid's ID as the recordings show it.
type wireID struct {
	Owner    string `json:"owner"`
	DSeq     string `json:"dseq"`
	GSeq     uint32 `json:"gseq"`
	OSeq     uint32 `json:"oseq"`
	Provider string `json:"provider"`
	BSeq     uint32 `json:"bseq"`
}

func (w wireID) bid(t *testing.T) chain.BidID {
	dseq, err := strconv.ParseUint(w.DSeq, 10, 64)
	require.NoError(t, err)
	return chain.BidID{Owner: w.Owner, DSeq: dseq, GSeq: w.GSeq, OSeq: w.OSeq, Provider: w.Provider, BSeq: w.BSeq}
}

// wireLease is a lease as the recordings show it.
type wireLease struct {
	Lease struct {
		ID    wireID `json:"id"`
		State string `json:"state"`
		Price struct {
			Denom  string `json:"denom"`
			Amount string `json:"amount"`
		} `json:"price"`
		CreatedAt   string `json:"created_at"`
		ClosedOn    string `json:"closed_on"`
		Reason      string `json:"reason"`
		Reclamation *struct {
			Window    string `json:"window"`
			StartedAt string `json:"started_at"`
			Deadline  string `json:"deadline"`
			Reason    string `json:"reason"`
		} `json:"reclamation"`
	} `json:"lease"`
}

func (w wireLease) lease(t *testing.T) chain.Lease {
	created, _ := strconv.ParseInt(w.Lease.CreatedAt, 10, 64)
	closed, _ := strconv.ParseInt(w.Lease.ClosedOn, 10, 64)
	bid := w.Lease.ID.bid(t)
	l := chain.Lease{ID: bid.LeaseID(), BSeq: bid.BSeq, State: w.Lease.State, CreatedAt: created, ClosedOn: closed, Reason: w.Lease.Reason}
	l.Price.Denom, l.Price.Amount = w.Lease.Price.Denom, w.Lease.Price.Amount
	if r := w.Lease.Reclamation; r != nil {
		window, err := time.ParseDuration(r.Window)
		require.NoError(t, err)
		started, _ := strconv.ParseInt(r.StartedAt, 10, 64)
		deadline, _ := strconv.ParseInt(r.Deadline, 10, 64)
		l.Reclamation = &chain.Reclamation{Window: window, StartedAt: started, Reason: r.Reason}
		if deadline != 0 {
			l.Reclamation.Deadline = time.Unix(deadline, 0).UTC()
		}
	}
	return l
}

// leaseFacts is what a set's recordings show of one lease.
type leaseFacts struct {
	lease   chain.Lease        // as an answer shows it (its ID only if none does)
	window  time.Duration      // its reclamation window, 0 for none
	started *chain.Reclamation // its reclamation, as shown started
	closed  *chain.Lease       // the lease, as shown closed
}

// leaseFactsOf gathers every lease of a set's recordings: from the lease
// answers (listings and infos), and from the transactions the node
// included (a close that succeeded names a lease that was live, and ends
// it at the transaction's height with the close's reason).
func leaseFactsOf(t *testing.T, recs map[string]recording) map[uint64]*leaseFacts {
	out := map[uint64]*leaseFacts{}
	factsOf := func(l chain.Lease) *leaseFacts {
		f := out[l.ID.DSeq]
		if f == nil {
			f = &leaseFacts{lease: l}
			out[l.ID.DSeq] = f
		}
		return f
	}
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := recs[name]
		if r.Status != http.StatusOK || !strings.Contains(r.Path, "/leases/") {
			continue
		}
		var body struct {
			Leases []wireLease `json:"leases"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Response), &body), r.Case)
		var one wireLease
		require.NoError(t, json.Unmarshal([]byte(r.Response), &one), r.Case)
		if one.Lease.ID.DSeq != "" {
			body.Leases = append(body.Leases, one)
		}
		for _, w := range body.Leases {
			l := w.lease(t)
			f := factsOf(l)
			if f.lease.State == "" { // known from a transaction only
				f.lease = l
			}
			if rc := l.Reclamation; rc != nil {
				f.window = rc.Window
				if rc.StartedAt != 0 {
					started := *rc
					f.started = &started
				}
			}
			if l.State == chain.StateClosed && f.closed == nil {
				closed := l
				f.closed = &closed
			}
		}
	}
	for _, name := range names {
		r := recs[name]
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Path, "/cosmos/tx/v1beta1/txs/") {
			continue
		}
		var got struct {
			Tx struct {
				Body struct {
					Messages []json.RawMessage `json:"messages"`
				} `json:"body"`
			} `json:"tx"`
			TxResponse struct {
				Height string `json:"height"`
				Code   uint32 `json:"code"`
			} `json:"tx_response"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Response), &got), r.Case)
		if got.TxResponse.Code != 0 {
			continue
		}
		height, err := strconv.ParseInt(got.TxResponse.Height, 10, 64)
		require.NoError(t, err)
		var closes func(raw json.RawMessage)
		closes = func(raw json.RawMessage) {
			var m struct {
				Type   string            `json:"@type"`
				ID     wireID            `json:"id"`
				Reason string            `json:"reason"`
				Msgs   []json.RawMessage `json:"msgs"`
			}
			require.NoError(t, json.Unmarshal(raw, &m))
			for _, inner := range m.Msgs {
				closes(inner)
			}
			if m.Type != chain.TypeURLMsgCloseBid {
				return
			}
			bid := m.ID.bid(t)
			f := factsOf(chain.Lease{ID: bid.LeaseID(), BSeq: bid.BSeq})
			if f.closed == nil {
				closed := f.lease
				closed.State, closed.ClosedOn, closed.Reason = chain.StateClosed, height, m.Reason
				f.closed = &closed
			}
		}
		for _, m := range got.Tx.Body.Messages {
			closes(m)
		}
	}
	return out
}

// world is the chain as a recording found it: the leases that existed,
// which of them were active and which reclaiming (the others closed), the
// provider's account, the chain's height and clock, and transactions to
// send first.
type world struct {
	exist, active []uint64
	reclaiming    []uint64
	seq           uint64 // the provider's sequence, committed
	// busy: the provider's account had a transaction of its own pending
	// (simulate and CheckTx expect seq+1).
	busy bool
	// height, if set, is the chain's height (the next block is height+1).
	height int64
	// clock is the chain's time (RFC 3339); empty: the recording's
	// recorded_at.
	clock  string
	before []string
}

// recordingSet is one recorded node: its recordings and what the test
// knows of the chain they were made on.
type recordingSet struct {
	dir   string
	count int
	// reclamation: a 2.1 node (WithReclamation).
	reclamation bool
	// sdkSource is where the node's build had the cosmos-sdk, as its error
	// messages name it (Chain.SDKSource: node_info does not say).
	sdkSource string
	// The provider's account: its number (its signatures verify for it on
	// chain local) and its key (as its transactions carry it).
	provider       string
	providerNumber uint64
	providerKey    string
	// tenant, if set, is the tenant's account, as a recording answers it.
	tenant *seedAccount
	// grants are the message types the provider granted the janitor's
	// key (authz).
	grants []string
	// worlds says, for each recording, the chain it was made on; one not
	// named is made on base.
	worlds map[string]world
	base   world
}

// seedAccount is an account as the chain holds it: address, number,
// sequence and public key (base64).
type seedAccount struct {
	address          string
	number, sequence uint64
	key              string
}

func (set *recordingSet) worldOf(name string) world {
	if w, ok := set.worlds[name]; ok {
		if w.active == nil {
			w.active = set.base.active
		}
		return w
	}
	return set.base
}

func dseqs(from, to uint64, except ...uint64) []uint64 {
	var out []uint64
	for n := from; n <= to; n++ {
		if !slices.Contains(except, n) {
			out = append(out, n)
		}
	}
	return out
}

// node-2.0.1: recorded 2026-12-01 (shared/akash-node/v2.0.1).
var (
	first  = []uint64{100, 101, 102, 200, 201, 202}
	five   = append(slices.Clone(first), 203, 204)
	six    = append(slices.Clone(five), 205)
	all    = append(slices.Clone(six), 206, 207, 208, 209, 210, 211)
	early  = world{exist: first, active: []uint64{102, 200, 201, 202}}
	paging = world{exist: five, active: []uint64{102, 200, 201, 202, 203, 204}}
	late   = world{exist: all, active: []uint64{102, 200, 201, 202, 204, 209, 211}}
	// On the chain the transactions were sent to, every lease existed;
	// 203 closed at height 352 (04b), 205-207 at 490 (04r), 208 at 514
	// (04s), 210 at 602.
	txs  = world{exist: all, active: []uint64{102, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211}}
	txs2 = world{exist: all, active: []uint64{102, 200, 201, 202, 204, 205, 206, 207, 208, 209, 210, 211}}
)

var node201 = &recordingSet{
	dir: "../testdata/node-2.0.1", count: 75,
	// Its error locations: [github.com/cosmos/cosmos-sdk@v0.53.5/...].
	sdkSource: "github.com/cosmos/cosmos-sdk",
	provider:  provider, providerNumber: 1, providerKey: "A8wM2l7DoQVwkpNACwoTN4i46Fj+b/axUvuav6apwTtm",
	tenant: &seedAccount{tenant, 2, 11, "AyWYqeJfghPwckQPDaaWyN7Li2aSi8Ho/8hyja+0HG3m"},
	grants: []string{chain.TypeURLMsgCloseBid},
	// A recording not named here was made on the first chain: six leases,
	// two of them closed.
	base: early,
	worlds: map[string]world{
		"01c_final_list_provider_page1":        late,
		"01c_final_list_provider_page2":        late,
		"01c_final_list_provider_state_active": late,
		"01c_final_list_provider_state_closed": late,
		"01d_page2_key_alone":                  paging,
		"01d_page2_key_limit1":                 paging,
		"01d_page2_key_with_other_filters":     paging,
		"01d_page3_key_limit1":                 paging,
		"01h_reverse":                          {exist: six, active: []uint64{102, 200, 201, 202, 203, 204, 205}},
		"03c_account_provider":                 {exist: first, seq: 8},
		// The latest block held a transaction.
		"03b_blocks_latest": {exist: txs.exist, active: txs.active, seq: 19, before: []string{"04b_broadcast_good"}},

		"04a_simulate_good":                   {exist: txs.exist, active: txs.active, seq: 19},
		"04b_broadcast_good":                  {exist: txs.exist, active: txs.active, seq: 19},
		"04b_broadcast_good_outofgas":         {exist: txs.exist, active: txs.active, seq: 18},
		"04c_gettx_before_inclusion":          {exist: txs.exist, active: txs.active, seq: 19, before: []string{"04b_broadcast_good"}},
		"04c_gettx_before_inclusion_outofgas": {exist: txs.exist, active: txs.active, seq: 18},
		"04d_gettx_included":                  {exist: txs.exist, active: txs.active, seq: 19, before: []string{"04b_broadcast_good"}},
		"04d_gettx_included_outofgas":         {exist: txs.exist, active: txs.active, seq: 18, before: []string{"04b_broadcast_good_outofgas"}},
		"04e_simulate_wrongseq":               {exist: txs2.exist, active: txs2.active, seq: 20},
		"04f_broadcast_wrongseq":              {exist: txs2.exist, active: txs2.active, seq: 20},
		"04f2_broadcast_wrongseq_low":         {exist: txs2.exist, active: txs2.active, seq: 20},
		"04g_simulate_wrongchain":             {exist: txs2.exist, active: txs2.active, seq: 20},
		"04h_broadcast_wrongchain":            {exist: txs2.exist, active: txs2.active, seq: 20},
		"04h2_broadcast_wrong_account_number": {exist: txs2.exist, active: txs2.active, seq: 20},
		"04i_simulate_lowfee":                 {exist: txs2.exist, active: txs2.active, seq: 20},
		"04j_broadcast_lowfee":                {exist: txs2.exist, active: txs2.active, seq: 20},
		"04j2_broadcast_fee_in_uact":          {exist: txs2.exist, active: txs2.active, seq: 20},
		"04k_simulate_zero_gas_zero_fee":      {exist: txs2.exist, active: txs2.active, seq: 20},
		"04l_simulate_already_closed":         {exist: txs2.exist, active: txs2.active, seq: 20},
		"04m_broadcast_already_closed":        {exist: txs2.exist, active: txs2.active, seq: 20},
		"04m2_gettx_already_closed":           {exist: txs2.exist, active: txs2.active, seq: 20, before: []string{"04m_broadcast_already_closed"}},
		"04n_simulate_nonexistent":            {exist: txs2.exist, active: txs2.active, seq: 21},
		"04o_broadcast_nonexistent":           {exist: txs2.exist, active: txs2.active, seq: 21},
		"04o2_gettx_nonexistent":              {exist: txs2.exist, active: txs2.active, seq: 21, before: []string{"04o_broadcast_nonexistent"}},
		"04p_simulate_other_signer":           {exist: txs2.exist, active: txs2.active, seq: 22},
		"04q_broadcast_other_signer":          {exist: txs2.exist, active: txs2.active, seq: 22},
		"04r_gettx_klbi_batch3":               {exist: all, active: txs2.active, seq: 22, before: []string{"tx:04r_gettx_klbi_batch3"}},
		"04s_gettx_authz_exec":                {exist: all, active: []uint64{102, 200, 201, 202, 204, 208, 209, 210, 211}, seq: 23, before: []string{"tx:04s_gettx_authz_exec"}},
	},
}

// node-2.0.1-run2: a second 2.0.1 chain, recorded 2026-12-04
// (shared/akash-node/v2.0.1-run2). Its leases: 102-112 active (02), 101
// closed by its tenant at 192 (04); the authz close of 109 included at
// 287 (14); 113-115 bid after 02 (no listing shows them) and closed
// together at 369 (11). The provider's account was busy (a transfer
// every block) while kill-lease-by-image and close-lease ran: the
// sequence the node expected is one past the committed one (08, 12).
var (
	run2Start = world{exist: dseqs(101, 112), active: dseqs(102, 112)}
	run2Exec  = world{exist: dseqs(101, 112), active: dseqs(102, 112, 109)}
	run2Batch = world{exist: dseqs(101, 115), active: dseqs(102, 115, 109), seq: 63, busy: true}
)

var node201run2 = &recordingSet{
	dir: "../testdata/node-2.0.1-run2", count: 15,
	// Built from the module cache: [cosmos/cosmos-sdk@v0.53.5/...] (08, 12).
	sdkSource: "cosmos/cosmos-sdk",
	provider:  "akash1vv679mmkv7yukvcz0hwyce6s2hxs58eajhyfxr", providerNumber: 1, providerKey: "A/2yCuoQbi2GVzhqpaJI3mexuqD6SC0UxueY6ywVkQg1",
	// 13 and 14: the janitor's key closes through authz.
	grants: []string{chain.TypeURLMsgCloseBid},
	base:   run2Start,
	worlds: map[string]world{
		// The transactions' sequences, as the node took them (06, 15) or
		// named them (08: expected 64, got 63; 12: expected 29, got 28).
		"06_simulate_close_missing":                 {exist: run2Start.exist, active: run2Start.active, seq: 13},
		"12_simulate_single_sequence_mismatch_busy": {exist: run2Start.exist, active: run2Start.active, seq: 28, busy: true},
		"14_gettx_authz_exec_included":              {exist: run2Start.exist, active: run2Start.active, before: []string{"tx:14_gettx_authz_exec_included"}},
		"15_broadcast_wrong_chain_id":               {exist: run2Exec.exist, active: run2Exec.active, seq: 55},
		"08_simulate_batch3_sequence_mismatch_busy": run2Batch,
		"09_simulate_batch3_resigned":               run2Batch,
		"10_broadcast_batch3_after_resign":          run2Batch,
		"11_gettx_batch3_included": {exist: run2Batch.exist, active: run2Batch.active, seq: run2Batch.seq, busy: true,
			before: []string{"tx:11_gettx_batch3_included"}},
	},
}

// node-2.1.0-rc12: recorded 2026-12-04 (shared/akash-node/v2.1.0-rc12).
// Its leases: 202-212 active, 206, 207, 208 and 211 bid with a 60 s
// reclamation window (02). 207's reclamation started at 120 (08), 206's
// at 133, 208's at 142 and 211's at 170 (with the node's CLI: 13 shows
// them); 207 closed at 212 (15), 206 at 213 (19).
var (
	rc12Leases    = dseqs(202, 212)
	rc12Fresh     = world{exist: rc12Leases, active: rc12Leases}
	rc12Started   = world{exist: rc12Leases, active: dseqs(202, 212, 207), reclaiming: []uint64{207}}
	rc12Windows   = world{exist: rc12Leases, active: dseqs(202, 212, 206, 207, 208, 211), reclaiming: []uint64{206, 207, 208, 211}}
	rc12AfterThem = world{exist: rc12Leases, active: dseqs(202, 212, 206, 207, 208, 211), reclaiming: []uint64{208, 211}}
)

// with is w with the provider's sequence and transactions to send first.
func (w world) with(seq uint64, before ...string) world {
	w.seq, w.before = seq, before
	return w
}

var node210rc12 = &recordingSet{
	dir: "../testdata/node-2.1.0-rc12", count: 20, reclamation: true,
	// Built from the module cache: [cosmos/cosmos-sdk@v0.53.6/...] (09, 11, 16, 18).
	sdkSource: "cosmos/cosmos-sdk",
	provider:  "akash1yc5rx078zrha0qgtw8rg3kx6xx0htajp6qyasn", providerNumber: 1, providerKey: "A4TyEu54Mc9UwsR9WN/ooV0hd5I1ZlLynwclJhuFUXYG",
	// The janitor's key holds the MsgCloseBid grant only (16's notes and
	// refusal).
	grants: []string{chain.TypeURLMsgCloseBid},
	base:   rc12Fresh,
	worlds: map[string]world{
		// The start of 207's reclamation, included at 120 at 15:53:29
		// (08): the listing right after shows the deadline the chain
		// computed from that block's time.
		"04_list_provider_reclaiming_one": {exist: rc12Fresh.exist, active: rc12Fresh.active, seq: 14, height: 119,
			clock: "2026-12-04T15:53:29Z", before: []string{"tx:08_gettx_start_reclaim_included"}},
		// The sequences the transactions were signed with and the node
		// took (its refusals came after the ante handler's check).
		"06_simulate_start_reclaim":                rc12Fresh.with(14),
		"07_broadcast_start_reclaim":               rc12Fresh.with(14),
		"08_gettx_start_reclaim_included":          rc12Fresh.with(14, "tx:08_gettx_start_reclaim_included"),
		"09_simulate_close_window_not_started":     rc12Started.with(19),
		"10_gettx_close_window_not_started_code37": rc12Started.with(19, "tx:10_gettx_close_window_not_started_code37"),
		// Inside 211's window: it ends at 15:55:20.
		"11_simulate_close_inside_window":             rc12Windows.with(21),
		"12_gettx_close_inside_window_code38":         rc12Windows.with(21, "tx:12_gettx_close_inside_window_code38"),
		"13_list_provider_reclaiming_after_deadlines": rc12Windows,
		"14_simulate_close_reclaiming_after_deadline": rc12Windows.with(22),
		"15_gettx_close_reclaiming_included":          rc12Windows.with(22, "tx:15_gettx_close_reclaiming_included"),
		"16_simulate_authz_start_reclaim_no_grant":    rc12AfterThem,
		// The provider's account busy (a transfer every 0.3 s): the node
		// expected one past the committed sequence (17: 58, got 57; 18:
		// 36, got 35).
		"17_broadcast_start_reclaim_code32_busy":   {exist: rc12AfterThem.exist, active: rc12AfterThem.active, reclaiming: rc12AfterThem.reclaiming, seq: 57, busy: true},
		"18_simulate_close_sequence_mismatch_busy": {exist: rc12AfterThem.exist, active: rc12AfterThem.active, reclaiming: rc12AfterThem.reclaiming, seq: 35, busy: true},
		"19_info_closed_keeps_reclamation":         rc12AfterThem,
		// The node reached the signature: the sequence was the one it
		// expected.
		"20_broadcast_wrong_chain_id": rc12AfterThem.with(70),
	},
}

var recordingSets = []*recordingSet{node201, node201run2, node210rc12}

// seed makes the chain the world describes.
func (set *recordingSet) seed(t *testing.T, recs map[string]recording, w world, clock time.Time) *chaintest.Chain {
	t.Helper()
	ch := chaintest.New()
	if set.reclamation {
		ch.WithReclamation()
	}
	ch.ChainID = "local"
	ch.SDKSource = set.sdkSource
	ch.Clock = func() time.Time { return clock }
	if w.height != 0 {
		ch.Height = w.height
	}
	facts := leaseFactsOf(t, recs)
	for _, dseq := range w.exist {
		f, ok := facts[dseq]
		require.True(t, ok, "lease %d is in no recording", dseq)
		l := f.lease
		l.State, l.ClosedOn, l.Reason, l.Reclamation = chain.StateActive, 0, "", nil
		if f.window != 0 {
			l.Reclamation = &chain.Reclamation{Window: f.window}
		}
		switch {
		case slices.Contains(w.active, dseq):
		case slices.Contains(w.reclaiming, dseq):
			require.NotNil(t, f.started, "lease %d is never seen reclaiming", dseq)
			started := *f.started
			l.State, l.Reclamation = chain.StateReclaiming, &started
		default:
			require.NotNil(t, f.closed, "lease %d is never seen closed", dseq)
			closed := *f.closed
			if closed.Reclamation == nil && f.started != nil {
				started := *f.started // closed after its window, by a transaction
				closed.Reclamation = &started
			}
			l = closed
		}
		ch.Put(l)
	}
	pub := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	ch.SetAccount(set.provider, set.providerNumber, w.seq, pub(set.providerKey))
	ch.Busy(set.provider, w.busy)
	if a := set.tenant; a != nil {
		ch.SetAccount(a.address, a.number, a.sequence, pub(a.key))
	}
	return ch
}

// openGrantee opens the account of the key that signs a MsgExec for the
// provider (authz), with the number its signature verifies for and the
// sequence it signed with (the node took both: no recording refuses
// them), holding the set's grants.
func (set *recordingSet) openGrantee(t *testing.T, ch *chaintest.Chain, raw []byte) {
	d, err := chaintx.Decode(raw)
	require.NoError(t, err)
	if !slices.ContainsFunc(d.Msgs, func(m chaintx.Msg) bool { return m.TypeURL == chain.TypeURLMsgExec }) {
		return
	}
	ch.SetAccount(d.Signer, accountNumberOf(t, raw), d.Sequence, nil)
	for _, g := range set.grants {
		ch.Grant(set.provider, d.Signer, g)
	}
}

func send(t *testing.T, url string, r recording) (int, []byte) {
	t.Helper()
	var req *http.Request
	var err error
	if r.Method == http.MethodPost {
		req, err = http.NewRequest(r.Method, url+r.Path, bytes.NewReader(r.RequestBody))
	} else {
		req, err = http.NewRequest(r.Method, url+r.Path, nil)
		q := req.URL.Query()
		for k, v := range r.Query {
			q.Set(k, v)
		}
		req.URL.RawQuery = q.Encode()
	}
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// requestTx is the transaction a recorded POST carries.
func requestTx(t *testing.T, r recording) []byte {
	var body struct {
		TxBytes string `json:"tx_bytes"`
	}
	require.NoError(t, json.Unmarshal(r.RequestBody, &body), r.Case)
	raw, err := base64.StdEncoding.DecodeString(body.TxBytes)
	require.NoError(t, err)
	return raw
}

// recordedTx rebuilds a transaction's bytes from its recorded JSON (the
// tx service's answer) and checks them against the recorded hash: what
// the janitor signed is what it can encode again.
func recordedTx(t *testing.T, r recording) []byte {
	t.Helper()
	var got struct {
		Tx struct {
			Body struct {
				Messages []json.RawMessage `json:"messages"`
				Memo     string            `json:"memo"`
			} `json:"body"`
			AuthInfo struct {
				SignerInfos []struct {
					PublicKey struct {
						Key []byte `json:"key"`
					} `json:"public_key"`
					Sequence string `json:"sequence"`
				} `json:"signer_infos"`
				Fee struct {
					Amount []struct {
						Denom  string `json:"denom"`
						Amount string `json:"amount"`
					} `json:"amount"`
					GasLimit string `json:"gas_limit"`
				} `json:"fee"`
			} `json:"auth_info"`
			Signatures [][]byte `json:"signatures"`
		} `json:"tx"`
		TxResponse struct {
			TxHash string `json:"txhash"`
		} `json:"tx_response"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Response), &got))
	var msg func(raw json.RawMessage) *codectypes.Any
	msg = func(raw json.RawMessage) *codectypes.Any {
		var m struct {
			Type    string            `json:"@type"`
			ID      wireID            `json:"id"`
			Reason  string            `json:"reason"`
			Grantee string            `json:"grantee"`
			Msgs    []json.RawMessage `json:"msgs"`
		}
		require.NoError(t, json.Unmarshal(raw, &m))
		switch m.Type {
		case chain.TypeURLMsgCloseBid, chain.TypeURLMsgLeaseStartReclaim:
			// MsgLeaseStartReclaim's fields are MsgCloseBid's (lib/chain/msg.go).
			reason, err := chain.ParseCloseReason(m.Reason)
			require.NoError(t, err)
			b := chain.MsgCloseBid{ID: m.ID.bid(t), Reason: reason}
			return &codectypes.Any{TypeUrl: m.Type, Value: b.Marshal()}
		case chain.TypeURLMsgExec:
			x := chain.MsgExec{Grantee: m.Grantee}
			for _, inner := range m.Msgs {
				a := msg(inner)
				x.Msgs = append(x.Msgs, chain.AnyMsg{TypeURL: a.TypeUrl, Value: a.Value})
			}
			return &codectypes.Any{TypeUrl: m.Type, Value: x.Marshal()}
		}
		t.Fatalf("%s: no encoder for %s", r.Case, m.Type)
		return nil
	}
	body := &txtypes.TxBody{Memo: got.Tx.Body.Memo}
	for _, m := range got.Tx.Body.Messages {
		body.Messages = append(body.Messages, msg(m))
	}
	si := got.Tx.AuthInfo.SignerInfos[0]
	pub, err := codectypes.NewAnyWithValue(&secp256k1.PubKey{Key: si.PublicKey.Key})
	require.NoError(t, err)
	seq, _ := strconv.ParseUint(si.Sequence, 10, 64)
	gas, _ := strconv.ParseUint(got.Tx.AuthInfo.Fee.GasLimit, 10, 64)
	var fee sdk.Coins
	for _, c := range got.Tx.AuthInfo.Fee.Amount {
		n, ok := sdkmath.NewIntFromString(c.Amount)
		require.True(t, ok)
		fee = append(fee, sdk.NewCoin(c.Denom, n))
	}
	auth := &txtypes.AuthInfo{SignerInfos: []*txtypes.SignerInfo{{PublicKey: pub, Sequence: seq,
		ModeInfo: &txtypes.ModeInfo{Sum: &txtypes.ModeInfo_Single_{Single: &txtypes.ModeInfo_Single{Mode: signing.SignMode_SIGN_MODE_DIRECT}}}}},
		Fee: &txtypes.Fee{Amount: fee, GasLimit: gas}}
	bodyBytes, err := body.Marshal()
	require.NoError(t, err)
	authBytes, err := auth.Marshal()
	require.NoError(t, err)
	raw, err := (&txtypes.TxRaw{BodyBytes: bodyBytes, AuthInfoBytes: authBytes, Signatures: got.Tx.Signatures}).Marshal()
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	require.Equal(t, got.TxResponse.TxHash, strings.ToUpper(hex.EncodeToString(sum[:])), "%s: the transaction encoded again is not the one the node hashed", r.Case)
	return raw
}

// accountNumberOf finds the account number a recorded signature was made
// for on chain "local".
func accountNumberOf(t *testing.T, raw []byte) uint64 {
	d, err := chaintx.Decode(raw)
	require.NoError(t, err)
	for n := uint64(0); n < 1000; n++ {
		if d.VerifySignature("local", n) {
			return n
		}
	}
	t.Fatal("the signature verifies for no account number below 1000")
	return 0
}

func TestReplayRecordedNode(t *testing.T) {
	for _, set := range recordingSets {
		t.Run(filepath.Base(set.dir), func(t *testing.T) { set.replay(t) })
	}
}

func (set *recordingSet) replay(t *testing.T) {
	recs := loadRecordings(t, set)
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := recs[name]
		t.Run(name, func(t *testing.T) {
			w := set.worldOf(name)
			clock, err := time.Parse(time.RFC3339, cmp.Or(w.clock, r.RecordedAt))
			require.NoError(t, err, "the chain's clock")
			ch := set.seed(t, recs, w, clock)
			url := ch.Start(t).URL
			for _, b := range w.before {
				if rest, ok := strings.CutPrefix(b, "tx:"); ok {
					raw := recordedTx(t, recs[rest])
					set.openGrantee(t, ch, raw)
					body, _ := json.Marshal(map[string]string{"tx_bytes": base64.StdEncoding.EncodeToString(raw), "mode": "BROADCAST_MODE_SYNC"})
					status, resp := send(t, url, recording{Method: http.MethodPost, Path: "/cosmos/tx/v1beta1/txs", RequestBody: body})
					require.Equal(t, http.StatusOK, status, "%s", resp)
					require.Contains(t, string(resp), `"code":0`, "%s", resp)
					continue
				}
				status, resp := send(t, url, recs[b])
				require.Equal(t, recs[b].Status, status, "%s: %s", b, resp)
			}
			if r.Method == http.MethodPost {
				set.openGrantee(t, ch, requestTx(t, r))
			}
			status, got := send(t, url, r)
			if diffs := compareAnswers(r, status, got); len(diffs) > 0 {
				t.Errorf("the simulator answers %s unlike the node:\n  %s\nnode: %.600s\nsim:  %.600s", name, strings.Join(diffs, "\n  "), r.Response, got)
			}
		})
	}
}

// volatile are the paths whose values depend on what the simulator does
// not model; their shape is still compared.
var volatile = []*regexp.Regexp{
	regexp.MustCompile(`^(block_id|block|sdk_block)\.`),
	regexp.MustCompile(`^default_node_info\.(default_node_id|listen_addr|moniker|other\.)`),
	regexp.MustCompile(`^application_version\.(git_commit|build_tags|go_version|build_deps)`),
	regexp.MustCompile(`escrow_payment\.state\.(balance|unsettled|withdrawn)\.amount$`),
	regexp.MustCompile(`\.events\.`),
	regexp.MustCompile(`^tx_response\.(height|timestamp)$`),
}

// gasPaths hold gas figures: equal within 20%.
var gasPaths = regexp.MustCompile(`(^gas_info\.gas_used|^tx_response\.gas_used)$`)

// gasInText are gas figures in the node's messages.
var gasInText = regexp.MustCompile(`(with gas used: '|gasUsed: )(\d+)`)

func compareAnswers(r recording, status int, got []byte) []string {
	var diffs []string
	if status != r.Status {
		diffs = append(diffs, fmt.Sprintf("status %d, the node's %d", status, r.Status))
	}
	var want, have any
	if err := json.Unmarshal([]byte(r.Response), &want); err != nil {
		return append(diffs, "the recording is not JSON: "+err.Error())
	}
	if err := json.Unmarshal(got, &have); err != nil {
		return append(diffs, "the answer is not JSON: "+err.Error())
	}
	ws, hs := shape(want, "", map[string]bool{}), shape(have, "", map[string]bool{})
	for p := range ws {
		if !hs[p] {
			diffs = append(diffs, "missing "+p)
		}
	}
	for p := range hs {
		if !ws[p] {
			diffs = append(diffs, "not in the node's answer: "+p)
		}
	}
	leaves(want, "", func(path string, v any) {
		for _, re := range volatile {
			if re.MatchString(path) {
				return
			}
		}
		h, ok := at(have, path)
		if !ok {
			return // a shape difference, said above
		}
		if gasPaths.MatchString(path) {
			if !near(v, h) {
				diffs = append(diffs, fmt.Sprintf("%s: gas %v, the node's %v (more than 20%% apart)", path, h, v))
			}
			return
		}
		if ws, ok := v.(string); ok {
			if hs, ok := h.(string); ok && gasInText.MatchString(ws) {
				wg, hg := gasInText.FindStringSubmatch(ws), gasInText.FindStringSubmatch(hs)
				if hg == nil || !near(wg[2], hg[2]) {
					diffs = append(diffs, fmt.Sprintf("%s: %q, the node's %q", path, hs, ws))
				}
				if gasInText.ReplaceAllString(ws, "${1}N") != gasInText.ReplaceAllString(hs, "${1}N") {
					diffs = append(diffs, fmt.Sprintf("%s: %q, the node's %q", path, hs, ws))
				}
				return
			}
		}
		if fmt.Sprint(v) != fmt.Sprint(h) {
			diffs = append(diffs, fmt.Sprintf("%s: %v, the node's %v", path, h, v))
		}
	})
	sort.Strings(diffs)
	return diffs
}

func near(a, b any) bool {
	x, err1 := strconv.ParseFloat(fmt.Sprint(a), 64)
	y, err2 := strconv.ParseFloat(fmt.Sprint(b), 64)
	return err1 == nil && err2 == nil && math.Abs(x-y) <= 0.2*math.Abs(x)
}

// shape is every path of a JSON value with its type; array elements share
// one path ([]), an empty array or object is a type of its own.
func shape(v any, path string, out map[string]bool) map[string]bool {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path+": {}"] = true
		}
		for k, e := range x {
			shape(e, join(path, k), out)
		}
	case []any:
		if len(x) == 0 {
			out[path+": []"] = true
		}
		for _, e := range x {
			shape(e, path+"[]", out)
		}
	case nil:
		out[path+": null"] = true
	default:
		out[fmt.Sprintf("%s: %T", path, x)] = true
	}
	return out
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// leaves calls fn with every scalar of v and its path (array elements as
// .N).
func leaves(v any, path string, fn func(string, any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			leaves(e, join(path, k), fn)
		}
	case []any:
		for i, e := range x {
			leaves(e, join(path, strconv.Itoa(i)), fn)
		}
	default:
		fn(path, x)
	}
}

// at is the value at a path leaves gave.
func at(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			e, ok := x[k]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
