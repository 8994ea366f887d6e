package chain

import (
	"encoding/hex"
	"testing"

	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/x/authz"
	gogoproto "github.com/cosmos/gogoproto/proto"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// idMessage is a message of the chain-sdk protos shaped {ID id = 1;
// LeaseClosedReason reason = 2} (akash-network/chain-sdk 55f1c68:
// market/v1beta5/bidmsg.proto MsgCloseBid with market/v1/bid.proto BidID;
// market/v1beta5/leasemsg.proto MsgLeaseStartReclaim with
// market/v1/lease.proto LeaseID; market/v1/types.proto LeaseClosedReason),
// declared here so the standard protobuf library encodes it independently
// of our encoder.
func idMessage(t *testing.T, file, idName, msgName string) protoreflect.MessageDescriptor {
	t.Helper()
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String(name)}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String(file), Package: proto.String("akash.market.v1beta5"), Syntax: proto.String("proto3"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{Name: proto.String("LeaseClosedReason"), Value: []*descriptorpb.EnumValueDescriptorProto{
			{Name: proto.String("lease_closed_invalid"), Number: proto.Int32(0)},
			{Name: proto.String("lease_closed_reason_unstable"), Number: proto.Int32(10000)},
			{Name: proto.String("lease_closed_reason_decommission"), Number: proto.Int32(10001)},
			{Name: proto.String("lease_closed_reason_unspecified"), Number: proto.Int32(10002)},
			{Name: proto.String("lease_closed_reason_manifest_timeout"), Number: proto.Int32(10003)},
		}}},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String(idName), Field: []*descriptorpb.FieldDescriptorProto{
				field("owner", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
				field("dseq", 2, descriptorpb.FieldDescriptorProto_TYPE_UINT64, ""),
				field("gseq", 3, descriptorpb.FieldDescriptorProto_TYPE_UINT32, ""),
				field("oseq", 4, descriptorpb.FieldDescriptorProto_TYPE_UINT32, ""),
				field("provider", 5, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
				field("bseq", 6, descriptorpb.FieldDescriptorProto_TYPE_UINT32, ""),
			}},
			{Name: proto.String(msgName), Field: []*descriptorpb.FieldDescriptorProto{
				field("id", 1, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".akash.market.v1beta5."+idName),
				field("reason", 2, descriptorpb.FieldDescriptorProto_TYPE_ENUM, ".akash.market.v1beta5.LeaseClosedReason"),
			}},
		},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	require.NoError(t, err)
	return fd.Messages().ByName(protoreflect.Name(msgName))
}

// encodeAs is m encoded by the standard library as the message desc.
func encodeAs(t *testing.T, desc protoreflect.MessageDescriptor, m MsgCloseBid) []byte {
	t.Helper()
	msg := dynamicpb.NewMessage(desc)
	id := dynamicpb.NewMessage(desc.Fields().ByName("id").Message())
	for name, v := range map[protoreflect.Name]protoreflect.Value{"owner": protoreflect.ValueOfString(m.ID.Owner), "dseq": protoreflect.ValueOfUint64(m.ID.DSeq),
		"gseq": protoreflect.ValueOfUint32(m.ID.GSeq), "oseq": protoreflect.ValueOfUint32(m.ID.OSeq),
		"provider": protoreflect.ValueOfString(m.ID.Provider), "bseq": protoreflect.ValueOfUint32(m.ID.BSeq)} {
		id.Set(id.Descriptor().Fields().ByName(name), v)
	}
	msg.Set(desc.Fields().ByName("id"), protoreflect.ValueOfMessage(id))
	msg.Set(desc.Fields().ByName("reason"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(m.Reason)))
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	require.NoError(t, err)
	return b
}

func TestMsgCloseBidMatchesTheProtos(t *testing.T) {
	desc := idMessage(t, "bidmsg.proto", "BidID", "MsgCloseBid")
	for _, m := range []MsgCloseBid{
		{ID: BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1, Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"}, Reason: 10002},
		{ID: BidID{Owner: "akash1fxa9ss3dg6nqyz8aluyaa6svypgprk5tw9fa4q", DSeq: 1 << 40, GSeq: 3, OSeq: 7, Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", BSeq: 2}, Reason: 10003},
		{ID: BidID{Owner: "o", DSeq: 1, GSeq: 1, OSeq: 1, Provider: "p"}},
	} {
		assert.Equal(t, hex.EncodeToString(encodeAs(t, desc, m)), hex.EncodeToString(m.Marshal()), "%+v", m)
	}
}

// The runbook's lease closed with reason unspecified, pinned: a change of
// the encoder that changes these bytes is a change of what goes on chain.
func TestMsgCloseBidGoldenBytes(t *testing.T) {
	m := MsgCloseBid{ID: BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1,
		Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"}, Reason: 10002}
	const golden = "0a650a2c616b61736831683234666c6a743770306e6838326371307a61307568736374337366777366753977336339681081828304180120012a2c616b617368316e787138676d737732766c7a336d3638717679766366336b683671323639616a76717736793010924e"
	assert.Equal(t, golden, hex.EncodeToString(m.Marshal()))
	assert.Equal(t, "/akash.market.v1beta5.MsgCloseBid", TypeURLMsgCloseBid)
}

func TestParseCloseReason(t *testing.T) {
	for in, want := range map[string]int32{"10000": 10000, "lease_closed_reason_manifest_timeout": 10003, "10002": 10002} {
		got, err := ParseCloseReason(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"1", "20000", "unstable", ""} {
		_, err := ParseCloseReason(bad)
		assert.ErrorContains(t, err, "want 10000 (unstable)", bad)
	}
}

// MsgExec held to cosmos-sdk's own authz type: the same bytes.
func TestMsgExecMatchesCosmosSDK(t *testing.T) {
	inner := MsgCloseBid{ID: BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1, Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"}, Reason: 10002}
	m := MsgExec{Grantee: "akash1shdsmwcyn0pr2sat24ywe27jmq7zuzm5mayny3", Msgs: []AnyMsg{{TypeURL: TypeURLMsgCloseBid, Value: inner.Marshal()}, {TypeURL: TypeURLMsgCloseBid, Value: inner.Marshal()}}}
	sdkMsg := authz.MsgExec{Grantee: m.Grantee, Msgs: []*codectypes.Any{{TypeUrl: TypeURLMsgCloseBid, Value: inner.Marshal()}, {TypeUrl: TypeURLMsgCloseBid, Value: inner.Marshal()}}}
	want, err := sdkMsg.Marshal()
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(m.Marshal()))
	back, err := UnmarshalMsgExec(want)
	require.NoError(t, err)
	assert.Equal(t, m, back)
	assert.Equal(t, "/"+gogoproto.MessageName(&sdkMsg), TypeURLMsgExec)
}

// MsgLeaseStartReclaim (chain-sdk 55f1c68, market/v1beta5/leasemsg.proto:
// LeaseID id = 1, LeaseClosedReason reason = 2; market/v1/lease.proto
// LeaseID: owner 1, dseq 2, gseq 3, oseq 4, provider 5, bseq 6) is encoded
// by MsgCloseBid's encoder: the standard library, given the protos'
// declaration, writes the same bytes.
func TestMsgLeaseStartReclaimMatchesTheProtos(t *testing.T) {
	desc := idMessage(t, "leasemsg.proto", "LeaseID", "MsgLeaseStartReclaim")
	m := MsgCloseBid{ID: BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 2, OSeq: 3,
		Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", BSeq: 4}, Reason: 10001}
	assert.Equal(t, hex.EncodeToString(encodeAs(t, desc, m)), hex.EncodeToString(m.Marshal()))
	const golden = "0a670a2c616b61736831683234666c6a743770306e6838326371307a61307568736374337366777366753977336339681081828304180220032a2c616b617368316e787138676d737732766c7a336d3638717679766366336b683671323639616a767177367930300410914e"
	assert.Equal(t, golden, hex.EncodeToString(m.Marshal()), "pinned: a change here changes what goes on chain")
	assert.Equal(t, "/akash.market.v1beta5.MsgLeaseStartReclaim", TypeURLMsgLeaseStartReclaim)
}

func TestCloseReasonName(t *testing.T) {
	for name, n := range closeReasons {
		assert.Equal(t, name, CloseReasonName(n))
	}
	assert.Equal(t, "lease_closed_invalid", CloseReasonName(0))
	assert.Equal(t, "lease_closed_invalid", CloseReasonName(42))
}
