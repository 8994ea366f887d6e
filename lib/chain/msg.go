package chain

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// TypeURLMsgCloseBid is MsgCloseBid's type URL in a transaction's Any.
const TypeURLMsgCloseBid = "/akash.market.v1beta5.MsgCloseBid"

// TypeURLMsgLeaseStartReclaim is MsgLeaseStartReclaim's (node 2.1 on,
// AEP-82): the provider starts a lease's reclamation window. Its fields
// are MsgCloseBid's (a LeaseID, whose wire form is BidID's, and a
// LeaseClosedReason), so MsgCloseBid encodes and decodes it.
const TypeURLMsgLeaseStartReclaim = "/akash.market.v1beta5.MsgLeaseStartReclaim"

// Reasons a provider gives for closing a bid (akash.market.v1
// LeaseClosedReason, the provider-initiated range 10000-19999).
var closeReasons = map[string]int32{
	"lease_closed_reason_unstable":         10000,
	"lease_closed_reason_decommission":     10001,
	"lease_closed_reason_unspecified":      10002,
	"lease_closed_reason_manifest_timeout": 10003,
}

// CloseReasonName is a close reason's name, "lease_closed_invalid" (the
// enum's zero) for a number not among the provider's.
func CloseReasonName(n int32) string {
	for name, v := range closeReasons {
		if v == n {
			return name
		}
	}
	return "lease_closed_invalid"
}

// ParseCloseReason reads a reason by name (lease_closed_reason_unstable) or
// number (10000); only the provider's four are accepted.
func ParseCloseReason(s string) (int32, error) {
	if n, ok := closeReasons[s]; ok {
		return n, nil
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		for _, v := range closeReasons {
			if int32(n) == v {
				return v, nil
			}
		}
	}
	return 0, fmt.Errorf("close reason %q: want 10000 (unstable), 10001 (decommission), 10002 (unspecified) or 10003 (manifest_timeout), or their lease_closed_reason_ names", s)
}

// BidID names a bid (akash.market.v1.BidID).
type BidID struct {
	Owner    string
	DSeq     uint64
	GSeq     uint32
	OSeq     uint32
	Provider string
	BSeq     uint32
}

// BidIDOf is the bid of a lease.
func BidIDOf(l Lease) BidID {
	return BidID{Owner: l.ID.Owner, DSeq: l.ID.DSeq, GSeq: l.ID.GSeq, OSeq: l.ID.OSeq, Provider: l.ID.Provider, BSeq: l.BSeq}
}

// LeaseID is the bid's lease.
func (b BidID) LeaseID() akash.LeaseID {
	return akash.LeaseID{Owner: b.Owner, DSeq: b.DSeq, GSeq: b.GSeq, OSeq: b.OSeq, Provider: b.Provider}
}

// Marshal is the protobuf encoding: fields in number order, zero values
// left out, as proto3 and the chain's gogoproto code write them.
func (b BidID) Marshal() []byte {
	var out []byte
	out = appendString(out, 1, b.Owner)
	out = appendVarint(out, 2, b.DSeq)
	out = appendVarint(out, 3, uint64(b.GSeq))
	out = appendVarint(out, 4, uint64(b.OSeq))
	out = appendString(out, 5, b.Provider)
	out = appendVarint(out, 6, uint64(b.BSeq))
	return out
}

// MsgCloseBid is akash.market.v1beta5.MsgCloseBid: the provider closes its
// bid, which closes the lease.
type MsgCloseBid struct {
	ID     BidID
	Reason int32
}

// Marshal is the protobuf encoding.
func (m MsgCloseBid) Marshal() []byte {
	id := m.ID.Marshal()
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, id)
	if m.Reason != 0 {
		out = protowire.AppendTag(out, 2, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(int64(m.Reason)))
	}
	return out
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// UnmarshalMsgCloseBid decodes a MsgCloseBid (what a node, or the
// simulator, does with a message of that type URL).
func UnmarshalMsgCloseBid(b []byte) (MsgCloseBid, error) {
	var m MsgCloseBid
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					m.ID.Owner = string(v)
				case num == 2 && typ == protowire.VarintType:
					m.ID.DSeq = n
				case num == 3 && typ == protowire.VarintType:
					m.ID.GSeq = uint32(n)
				case num == 4 && typ == protowire.VarintType:
					m.ID.OSeq = uint32(n)
				case num == 5 && typ == protowire.BytesType:
					m.ID.Provider = string(v)
				case num == 6 && typ == protowire.VarintType:
					m.ID.BSeq = uint32(n)
				}
				return nil
			})
		case num == 2 && typ == protowire.VarintType:
			m.Reason = int32(n)
		}
		return nil
	})
	if err != nil {
		return MsgCloseBid{}, fmt.Errorf("decode MsgCloseBid: %w", err)
	}
	return m, nil
}

// eachField walks a protobuf message's fields.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, bytes []byte, varint uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if err := fn(num, typ, nil, v); err != nil {
				return err
			}
			b = b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if err := fn(num, typ, v, 0); err != nil {
				return err
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// TypeURLMsgExec is authz's MsgExec: a grantee runs messages on a granter's
// behalf (cosmos.authz.v1beta1).
const TypeURLMsgExec = "/cosmos.authz.v1beta1.MsgExec"

// AnyMsg is a message packed as google.protobuf.Any.
type AnyMsg struct {
	TypeURL string
	Value   []byte
}

// MsgExec is cosmos.authz.v1beta1.MsgExec {grantee = 1; repeated Any msgs = 2}.
type MsgExec struct {
	Grantee string
	Msgs    []AnyMsg
}

// Marshal is the protobuf encoding.
func (m MsgExec) Marshal() []byte {
	out := appendString(nil, 1, m.Grantee)
	for _, a := range m.Msgs {
		var any []byte
		any = appendString(any, 1, a.TypeURL)
		if len(a.Value) > 0 {
			any = protowire.AppendTag(any, 2, protowire.BytesType)
			any = protowire.AppendBytes(any, a.Value)
		}
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, any)
	}
	return out
}

// UnmarshalMsgExec decodes a MsgExec.
func UnmarshalMsgExec(b []byte) (MsgExec, error) {
	var m MsgExec
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			m.Grantee = string(v)
		case num == 2 && typ == protowire.BytesType:
			var a AnyMsg
			if err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					a.TypeURL = string(v)
				case num == 2 && typ == protowire.BytesType:
					a.Value = append([]byte(nil), v...)
				}
				return nil
			}); err != nil {
				return err
			}
			m.Msgs = append(m.Msgs, a)
		}
		return nil
	})
	if err != nil {
		return MsgExec{}, fmt.Errorf("decode MsgExec: %w", err)
	}
	return m, nil
}
