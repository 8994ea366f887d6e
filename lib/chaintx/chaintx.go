// Package chaintx signs Akash transactions natively with cosmos-sdk's
// crypto and tx types: the provider's armored key (akash-provider-keys),
// SIGN_MODE_DIRECT over secp256k1, messages carried as raw Anys of their
// type URL, so no Akash Go module is needed.
package chaintx

import (
	"errors"
	"fmt"
	"strings"

	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/crypto"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/bech32"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
)

// AddressPrefix is Akash's bech32 account prefix.
const AddressPrefix = "akash"

// Signer is a key that signs transactions.
type Signer struct {
	priv cryptotypes.PrivKey
	// Address is the key's account (akash1...).
	Address string
}

// LoadKey decrypts an armored private key (what `provider-services keys
// export` writes, the Secret's key.txt) with its passphrase (key-pass.txt).
// Neither is ever logged; errors say what is wrong without them.
func LoadKey(armored, passphrase string) (*Signer, error) {
	if !strings.Contains(armored, "BEGIN TENDERMINT PRIVATE KEY") {
		return nil, errors.New("the key is not an armored private key (want the output of `keys export`, BEGIN TENDERMINT PRIVATE KEY)")
	}
	priv, algo, err := crypto.UnarmorDecryptPrivKey(armored, strings.TrimRight(passphrase, "\r\n"))
	if err != nil {
		return nil, fmt.Errorf("decrypt the armored key (wrong passphrase, or a damaged key): %w", err)
	}
	if algo != "secp256k1" {
		return nil, fmt.Errorf("the key is %s; Akash accounts use secp256k1", algo)
	}
	return newSigner(priv)
}

// GenerateKey makes a new key (for tests and simulators) and its armor.
func GenerateKey(passphrase string) (*Signer, string, error) {
	priv := secp256k1.GenPrivKey()
	s, err := newSigner(priv)
	if err != nil {
		return nil, "", err
	}
	return s, crypto.EncryptArmorPrivKey(priv, passphrase, "secp256k1"), nil
}

func newSigner(priv cryptotypes.PrivKey) (*Signer, error) {
	addr, err := bech32.ConvertAndEncode(AddressPrefix, priv.PubKey().Address())
	if err != nil {
		return nil, err
	}
	return &Signer{priv: priv, Address: addr}, nil
}

// Msg is a message to carry: its type URL and protobuf bytes.
type Msg struct {
	TypeURL string
	Value   []byte
}

// Tx is what to sign.
type Tx struct {
	Msgs          []Msg
	Memo          string
	ChainID       string
	AccountNumber uint64
	Sequence      uint64
	GasLimit      uint64
	// Fee is the fee in coins, e.g. "5000uakt".
	Fee string
}

// Sign builds and signs the transaction (SIGN_MODE_DIRECT) and returns the
// TxRaw bytes to broadcast.
func (s *Signer) Sign(tx Tx) ([]byte, error) {
	if len(tx.Msgs) == 0 {
		return nil, errors.New("a transaction needs at least one message")
	}
	if tx.ChainID == "" {
		return nil, errors.New("chain ID is empty")
	}
	fee, err := sdk.ParseCoinsNormalized(tx.Fee)
	if err != nil {
		return nil, fmt.Errorf("fee %q: %w", tx.Fee, err)
	}
	body := &txtypes.TxBody{Memo: tx.Memo}
	for _, m := range tx.Msgs {
		body.Messages = append(body.Messages, &codectypes.Any{TypeUrl: m.TypeURL, Value: m.Value})
	}
	bodyBytes, err := body.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode the tx body: %w", err)
	}
	pub, err := codectypes.NewAnyWithValue(s.priv.PubKey())
	if err != nil {
		return nil, err
	}
	auth := &txtypes.AuthInfo{
		SignerInfos: []*txtypes.SignerInfo{{
			PublicKey: pub,
			ModeInfo:  &txtypes.ModeInfo{Sum: &txtypes.ModeInfo_Single_{Single: &txtypes.ModeInfo_Single{Mode: signing.SignMode_SIGN_MODE_DIRECT}}},
			Sequence:  tx.Sequence,
		}},
		Fee: &txtypes.Fee{Amount: fee, GasLimit: tx.GasLimit},
	}
	authBytes, err := auth.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode the auth info: %w", err)
	}
	doc := &txtypes.SignDoc{BodyBytes: bodyBytes, AuthInfoBytes: authBytes, ChainId: tx.ChainID, AccountNumber: tx.AccountNumber}
	signBytes, err := doc.Marshal()
	if err != nil {
		return nil, err
	}
	sig, err := s.priv.Sign(signBytes)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	raw := &txtypes.TxRaw{BodyBytes: bodyBytes, AuthInfoBytes: authBytes, Signatures: [][]byte{sig}}
	return raw.Marshal()
}

// Decoded is a signed transaction taken apart, as a node reads it before
// it runs the ante handler.
type Decoded struct {
	Msgs []Msg
	// Signer is the address of the key in the one signer info; the
	// account a node charges is the messages' signer, which may differ.
	Signer        string
	PubKey        []byte // the secp256k1 key, compressed
	Sequence      uint64
	GasLimit      uint64
	Fee           sdk.Coins
	Payer         string
	Granter       string
	Memo          string
	TimeoutHeight uint64
	Signature     []byte

	raw, bodyBytes, authBytes []byte
	pub                       secp256k1.PubKey
}

// Raw is the TxRaw bytes the transaction was decoded from.
func (d Decoded) Raw() []byte { return d.raw }

// Decode takes TxRaw bytes apart: one signer info with a secp256k1 key in
// SIGN_MODE_DIRECT and one signature, the only shape the janitor sends.
func Decode(txBytes []byte) (Decoded, error) {
	var raw txtypes.TxRaw
	if err := raw.Unmarshal(txBytes); err != nil {
		return Decoded{}, fmt.Errorf("tx parse error: %w", err)
	}
	var body txtypes.TxBody
	if err := body.Unmarshal(raw.BodyBytes); err != nil {
		return Decoded{}, fmt.Errorf("tx body parse error: %w", err)
	}
	var auth txtypes.AuthInfo
	if err := auth.Unmarshal(raw.AuthInfoBytes); err != nil {
		return Decoded{}, fmt.Errorf("auth info parse error: %w", err)
	}
	if len(auth.SignerInfos) != 1 || len(raw.Signatures) != 1 {
		return Decoded{}, fmt.Errorf("want one signer and one signature, got %d and %d", len(auth.SignerInfos), len(raw.Signatures))
	}
	si := auth.SignerInfos[0]
	if si.PublicKey == nil || si.PublicKey.TypeUrl != "/cosmos.crypto.secp256k1.PubKey" {
		return Decoded{}, errors.New("signer public key is not a secp256k1 key")
	}
	d := Decoded{Sequence: si.Sequence, Memo: body.Memo, TimeoutHeight: body.TimeoutHeight, Signature: raw.Signatures[0],
		raw: txBytes, bodyBytes: raw.BodyBytes, authBytes: raw.AuthInfoBytes}
	if err := d.pub.Unmarshal(si.PublicKey.Value); err != nil {
		return Decoded{}, fmt.Errorf("signer public key: %w", err)
	}
	d.PubKey = d.pub.Key
	single, ok := si.ModeInfo.GetSum().(*txtypes.ModeInfo_Single_)
	if !ok || single.Single.Mode != signing.SignMode_SIGN_MODE_DIRECT {
		return Decoded{}, errors.New("only SIGN_MODE_DIRECT is accepted")
	}
	addr, err := bech32.ConvertAndEncode(AddressPrefix, d.pub.Address())
	if err != nil {
		return Decoded{}, err
	}
	d.Signer = addr
	if auth.Fee != nil {
		d.GasLimit, d.Fee, d.Payer, d.Granter = auth.Fee.GasLimit, auth.Fee.Amount, auth.Fee.Payer, auth.Fee.Granter
	}
	for _, m := range body.Messages {
		d.Msgs = append(d.Msgs, Msg{TypeURL: m.TypeUrl, Value: m.Value})
	}
	return d, nil
}

// VerifySignature checks the signature over the sign document of chainID
// and accountNumber (SIGN_MODE_DIRECT).
func (d Decoded) VerifySignature(chainID string, accountNumber uint64) bool {
	doc := &txtypes.SignDoc{BodyBytes: d.bodyBytes, AuthInfoBytes: d.authBytes, ChainId: chainID, AccountNumber: accountNumber}
	signBytes, err := doc.Marshal()
	return err == nil && d.pub.VerifySignature(signBytes, d.Signature)
}

// Verify decodes TxRaw bytes and verifies the one signature against the
// chain ID and the signing key's account number.
func Verify(txBytes []byte, chainID string, accountNumber func(address string) (uint64, bool)) (Decoded, error) {
	d, err := Decode(txBytes)
	if err != nil {
		return Decoded{}, err
	}
	number, ok := accountNumber(d.Signer)
	if !ok {
		return Decoded{}, fmt.Errorf("account %s not found", d.Signer)
	}
	if !d.VerifySignature(chainID, number) {
		return Decoded{}, errors.New("signature verification failed; please verify account number and chain-id")
	}
	return d, nil
}
