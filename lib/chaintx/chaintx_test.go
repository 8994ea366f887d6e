package chaintx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

func closeBid() Msg {
	m := chain.MsgCloseBid{ID: chain.BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1,
		Provider: "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"}, Reason: 10002}
	return Msg{TypeURL: chain.TypeURLMsgCloseBid, Value: m.Marshal()}
}

func TestArmoredKeyRoundTrip(t *testing.T) {
	s, armor, err := GenerateKey("correct horse")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(s.Address, "akash1"))
	loaded, err := LoadKey(armor, "correct horse\n")
	require.NoError(t, err, "a trailing newline in key-pass.txt is not part of the passphrase")
	assert.Equal(t, s.Address, loaded.Address)

	_, err = LoadKey(armor, "wrong")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wrong passphrase")
	assert.NotContains(t, err.Error(), "correct horse", "secrets are never in errors")
	_, err = LoadKey("akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", "x")
	assert.ErrorContains(t, err, "not an armored private key")
}

func TestSignAndVerify(t *testing.T) {
	s, _, err := GenerateKey("p")
	require.NoError(t, err)
	tx := Tx{Msgs: []Msg{closeBid(), closeBid()}, ChainID: "akashnet-2", AccountNumber: 42, Sequence: 7, GasLimit: 300000, Fee: "7500uakt", Memo: "akash-janitor"}
	raw, err := s.Sign(tx)
	require.NoError(t, err)
	accounts := func(a string) (uint64, bool) { return 42, a == s.Address }
	d, err := Verify(raw, "akashnet-2", accounts)
	require.NoError(t, err)
	assert.Equal(t, s.Address, d.Signer)
	assert.Equal(t, uint64(7), d.Sequence)
	assert.Equal(t, uint64(300000), d.GasLimit)
	assert.Equal(t, "7500uakt", d.Fee.String())
	require.Len(t, d.Msgs, 2, "closes are batched in one transaction")
	assert.Equal(t, closeBid(), d.Msgs[0])

	_, err = Verify(raw, "sandbox-01", accounts)
	assert.ErrorContains(t, err, "signature verification failed", "signed for another chain")
	_, err = Verify(raw, "akashnet-2", func(string) (uint64, bool) { return 43, true })
	assert.ErrorContains(t, err, "signature verification failed", "another account number")
	tampered := bytes.Replace(raw, []byte("akash-janitor"), []byte("akash-janitoR"), 1)
	_, err = Verify(tampered, "akashnet-2", accounts)
	assert.ErrorContains(t, err, "signature verification failed")
	_, err = Verify([]byte("garbage"), "akashnet-2", accounts)
	assert.Error(t, err)

	_, err = s.Sign(Tx{ChainID: "akashnet-2", Fee: "1uakt"})
	assert.ErrorContains(t, err, "at least one message")
	_, err = s.Sign(Tx{Msgs: []Msg{closeBid()}, ChainID: "akashnet-2", Fee: "five akt"})
	assert.ErrorContains(t, err, `fee "five akt"`)
}

// secp256k1 signatures are deterministic (RFC 6979): a fixed key and
// transaction give fixed bytes, pinned here. A change of any byte is a
// change of what is broadcast.
func TestSignedBytesAreGolden(t *testing.T) {
	key := sha256.Sum256([]byte("akash-janitor golden key"))
	s, err := newSigner(&secp256k1.PrivKey{Key: key[:]})
	require.NoError(t, err)
	raw, err := s.Sign(Tx{Msgs: []Msg{closeBid()}, ChainID: "akashnet-2", AccountNumber: 12345, Sequence: 678, GasLimit: 200000, Fee: "5000uakt"})
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	assert.Equal(t, goldenTxHash, strings.ToUpper(hex.EncodeToString(sum[:])), "the tx hash (sha256 of TxRaw) of a fixed close")
	assert.Equal(t, goldenAddress, s.Address)
}

const (
	goldenTxHash  = "3E30EDEA0B41F3C3454A86F46D6EBFD1ABDEF73F490E9263EAEF08D034D6BFC2"
	goldenAddress = "akash1shdsmwcyn0pr2sat24ywe27jmq7zuzm5mayny3"
)
