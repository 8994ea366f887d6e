package chaintest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// The lease listing as the node (x/market keeper, Leases) answers it: one
// of three walks (by owner over the primary key, by provider over the
// provider index, else by state over the state index, state by state),
// a page of at most limit leases, and a next key naming the first lease
// not given. With a key, the walk and its states come from the key; the
// other filters of the request still apply.

// Lease states as the market module numbers them (akash.market.v1).
var stateNumbers = map[string]byte{chain.StateActive: 1, chain.StateInsufficientFunds: 2, chain.StateClosed: 3, chain.StateReclaiming: 4}

// The walks, as the key's trailing byte names them.
const (
	walkState byte = iota
	walkProvider
	walkOwner
)

const defaultLimit = 100 // cosmos-sdk query.DefaultLimit

// leaseKey is a lease's primary key in the store's encoding (collections:
// a string is its bytes and a zero byte, integers big-endian): owner,
// dseq, gseq, oseq, provider, bseq.
func leaseKey(l *chain.Lease) []byte {
	b := append([]byte(l.ID.Owner), 0)
	b = binary.BigEndian.AppendUint64(b, l.ID.DSeq)
	b = binary.BigEndian.AppendUint32(b, l.ID.GSeq)
	b = binary.BigEndian.AppendUint32(b, l.ID.OSeq)
	b = append(b, l.ID.Provider...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, l.BSeq)
}

// comparePK orders leases as their primary keys are ordered.
func comparePK(a, b *chain.Lease) int {
	return cmp.Or(cmp.Compare(a.ID.Owner, b.ID.Owner), cmp.Compare(a.ID.DSeq, b.ID.DSeq), cmp.Compare(a.ID.GSeq, b.ID.GSeq),
		cmp.Compare(a.ID.OSeq, b.ID.OSeq), cmp.Compare(a.ID.Provider, b.ID.Provider), cmp.Compare(a.BSeq, b.BSeq))
}

// decodeLeaseKey reads a primary key back.
func decodeLeaseKey(b []byte) (*chain.Lease, error) {
	str := func() (string, error) {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return "", errors.New("collections: decoding error: string is not terminated")
		}
		s := string(b[:i])
		b = b[i+1:]
		return s, nil
	}
	var l chain.Lease
	var err error
	if l.ID.Owner, err = str(); err != nil {
		return nil, err
	}
	if len(b) < 16 {
		return nil, errors.New("collections: decoding error: key too short")
	}
	l.ID.DSeq, l.ID.GSeq, l.ID.OSeq = binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])
	b = b[16:]
	if l.ID.Provider, err = str(); err != nil {
		return nil, err
	}
	if len(b) != 4 {
		return nil, errors.New("collections: decoding error: key has the wrong length")
	}
	l.BSeq = binary.BigEndian.Uint32(b)
	return &l, nil
}

var errPageKey = errors.New("pagination: invalid key")

// encodePageKey is the node's pagination key (util/query): a CRC-32 (IEEE)
// of the rest, then the states, a prefix, the primary key and the walk,
// each after its length byte.
func encodePageKey(states []byte, prefix byte, pk []byte, walk byte) string {
	data := []byte{byte(len(states))}
	data = append(data, states...)
	data = append(data, 1, prefix, byte(len(pk)))
	data = append(data, pk...)
	data = append(data, 1, walk)
	return base64.StdEncoding.EncodeToString(append(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)), data...))
}

// decodePageKey reads a key back, refusing it as the node does.
func decodePageKey(key []byte) (states, pk, walk []byte, err error) {
	if len(key) < 5 {
		return nil, nil, nil, fmt.Errorf("%w: invalid key length", errPageKey)
	}
	want, key := binary.BigEndian.Uint32(key), key[4:]
	if got := crc32.ChecksumIEEE(key); want != got {
		return nil, nil, nil, fmt.Errorf("%w: invalid checksum, 0x%08x != 0x%08x", errPageKey, want, got)
	}
	var parts [][]byte
	for len(key) > 0 && len(parts) < 4 {
		n := int(key[0])
		if len(key) < 1+n {
			return nil, nil, nil, fmt.Errorf("%w: invalid state length", errPageKey)
		}
		parts, key = append(parts, key[1:1+n]), key[1+n:]
	}
	if len(parts) < 3 || len(key) > 0 {
		return nil, nil, nil, fmt.Errorf("%w: invalid state length", errPageKey)
	}
	if len(parts) == 4 {
		walk = parts[3]
	}
	return parts[0], parts[2], walk, nil
}

// base64Bytes reads a bytes query parameter as grpc-gateway does: standard
// base64, else URL-safe.
func base64Bytes(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(s)
	}
	return b, err
}

// listQuery is a listing request as the node reads it.
type listQuery struct {
	// numbers are the states of what is listed, by name, as the module
	// numbers them: leases' or bids' (bidStateNumbers).
	numbers         map[string]byte
	owner, provider string
	dseq            uint64
	gseq, oseq      uint32
	states          []byte
	walk            byte
	resume          *chain.Lease
	limit, offset   uint64
	reverse         bool
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": msg, "details": []any{}})
}

// parseList reads the query, or answers the node's refusal and returns
// false: numbers are the listed kind's states, every the states walked
// without a state filter.
func (c *Chain) parseList(w http.ResponseWriter, q url.Values, numbers map[string]byte, every []byte) (listQuery, bool) {
	lq := listQuery{owner: q.Get("filters.owner"), provider: q.Get("filters.provider"), numbers: numbers}
	uintParam := func(name string, bits int) (uint64, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, true
		}
		v, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			badRequest(w, err.Error())
			return 0, false
		}
		return v, true
	}
	var ok bool
	var g, o uint64
	if lq.dseq, ok = uintParam("filters.dseq", 64); !ok {
		return lq, false
	}
	if g, ok = uintParam("filters.gseq", 32); !ok {
		return lq, false
	}
	if o, ok = uintParam("filters.oseq", 32); !ok {
		return lq, false
	}
	lq.gseq, lq.oseq = uint32(g), uint32(o)
	if lq.limit, ok = uintParam("pagination.limit", 64); !ok {
		return lq, false
	}
	if lq.offset, ok = uintParam("pagination.offset", 64); !ok {
		return lq, false
	}
	lq.reverse = q.Get("pagination.reverse") == "true"
	if lq.offset > 0 && q.Get("filters.state") == "" {
		badRequest(w, "invalid request parameters. if offset is set, filter.state must be provided")
		return lq, false
	}
	if lq.limit == 0 {
		lq.limit = defaultLimit
	}
	if key := q.Get("pagination.key"); key != "" {
		raw, err := base64Bytes(key)
		if err != nil {
			badRequest(w, err.Error())
			return lq, false
		}
		states, pk, walk, err := decodePageKey(raw)
		if err != nil {
			badRequest(w, err.Error())
			return lq, false
		}
		if len(walk) != 1 {
			badRequest(w, "invalid pagination key")
			return lq, false
		}
		resume, err := decodeLeaseKey(pk)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": err.Error(), "details": []any{}})
			return lq, false
		}
		lq.states, lq.walk, lq.resume = states, walk[0], resume
		switch lq.walk {
		case walkProvider:
			lq.provider = resume.ID.Provider
		case walkOwner:
			lq.owner = resume.ID.Owner
		}
		return lq, true
	}
	if s := q.Get("filters.state"); s != "" {
		n, known := numbers[s]
		if !known || !slices.Contains(every, n) {
			badRequest(w, "invalid state value")
			return lq, false
		}
		lq.states = []byte{n}
	} else {
		lq.states = slices.Clone(every)
	}
	switch {
	case lq.owner != "":
		lq.walk = walkOwner
	case lq.provider != "":
		lq.walk = walkProvider
	default:
		lq.walk = walkState
		if lq.reverse {
			slices.Reverse(lq.states)
		}
	}
	return lq, true
}

// accepts is the request's filters (chain-sdk LeaseFilters.Accept), the
// state aside: the walk's states select that.
func (lq *listQuery) accepts(l *chain.Lease) bool {
	return (lq.owner == "" || l.ID.Owner == lq.owner) && (lq.dseq == 0 || l.ID.DSeq == lq.dseq) &&
		(lq.gseq == 0 || l.ID.GSeq == lq.gseq) && (lq.oseq == 0 || l.ID.OSeq == lq.oseq) &&
		(lq.provider == "" || l.ID.Provider == lq.provider)
}

// leaseStates are the lease states the node walks without a filter:
// reclaiming from 2.1 on.
func (c *Chain) leaseStates() []byte {
	if c.knowsReclamation() {
		return []byte{1, 2, 3, 4}
	}
	return []byte{1, 2, 3}
}

// leasesByPK is the leases in primary-key order.
func (c *Chain) leasesByPK() []*chain.Lease {
	if c.byPK == nil {
		// Sorted once until a lease is put: a large chain is listed in
		// hundreds of pages.
		c.byPK = make([]*chain.Lease, 0, len(c.leases))
		for _, l := range c.leases {
			c.byPK = append(c.byPK, l)
		}
		slices.SortFunc(c.byPK, comparePK)
	}
	return c.byPK
}

// walkOrder is the entries (leases, or bids as their keys and states) in
// the order the walk visits them, each with the index of its state in
// lq.states.
func walkOrder(lq *listQuery, all []*chain.Lease) (order []*chain.Lease, stateIdx []int) {
	if lq.reverse {
		all = slices.Clone(all)
		slices.Reverse(all)
	}
	byPK := func(a, b *chain.Lease) int {
		if lq.reverse {
			return comparePK(b, a)
		}
		return comparePK(a, b)
	}
	// from: the resume key is where the walk starts (inclusive).
	from := func(l *chain.Lease) bool {
		return lq.resume == nil || byPK(l, lq.resume) >= 0
	}
	if lq.walk == walkState {
		for i, s := range lq.states {
			for _, l := range all {
				if lq.numbers[l.State] == s && (i > 0 || from(l)) {
					order, stateIdx = append(order, l), append(stateIdx, i)
				}
			}
		}
		return order, stateIdx
	}
	for _, l := range all {
		if !slices.Contains(lq.states, lq.numbers[l.State]) || !from(l) {
			continue
		}
		if (lq.walk == walkOwner && l.ID.Owner == lq.owner) || (lq.walk == walkProvider && l.ID.Provider == lq.provider) {
			order, stateIdx = append(order, l), append(stateIdx, 0)
		}
	}
	return order, stateIdx
}

func (c *Chain) list(w http.ResponseWriter, r *http.Request) {
	lq, ok := c.parseList(w, r.URL.Query(), stateNumbers, c.leaseStates())
	if !ok {
		return
	}
	c.listPage(w, lq, "leases", c.leasesByPK, func(l *chain.Lease) any {
		return leaseResponse(*l, c.paymentOf(l), c.knowsReclamation())
	})
}

// listPage answers one page of the walk over all() (called with c.mu
// held), each entry as respond writes it (c.mu held), under field.
func (c *Chain) listPage(w http.ResponseWriter, lq listQuery, field string, all func() []*chain.Lease, respond func(*chain.Lease) any) {
	c.mu.Lock()
	failAfter, loop := c.failListAfter, c.loopPages
	entries := all()
	order, stateIdx := walkOrder(&lq, entries)
	before := 0 // entries the walk gave before this page
	if failAfter > 0 && lq.resume != nil && len(order) > 0 {
		whole := lq
		whole.resume = nil
		every, _ := walkOrder(&whole, entries)
		for _, l := range every {
			if l == order[0] {
				break
			}
			if lq.accepts(l) {
				before++
			}
		}
	}
	c.mu.Unlock()
	if failAfter > 0 && uint64(before) >= uint64(failAfter)*lq.limit {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": "simulated failure halfway through the listing", "details": []any{}})
		return
	}
	page := []any{}
	var next any
	offset := lq.offset
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, l := range order {
		if !lq.accepts(l) {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		if uint64(len(page)) == lq.limit {
			s := lq.states[stateIdx[i]]
			states := lq.states
			if lq.walk == walkState {
				states = lq.states[stateIdx[i]:]
			}
			next = encodePageKey(states, s, leaseKey(l), lq.walk)
			break
		}
		page = append(page, respond(l))
	}
	if loop && len(page) > 0 {
		first := order[0]
		next = encodePageKey(lq.states, lq.states[0], leaseKey(first), lq.walk)
	}
	writeJSON(w, http.StatusOK, map[string]any{field: page,
		"pagination": map[string]any{"next_key": next, "total": strconv.Itoa(len(page))}})
}
