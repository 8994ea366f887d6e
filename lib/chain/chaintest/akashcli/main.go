// Command akashcli stands in for the official Akash CLI (provider-services,
// akt) in tests and the demo, for the two commands the lease closer runs:
// `keys import <name> <keyfile>` and `tx market bid close`. The real CLI
// cannot be built here (its Go modules, pkg.akt.dev/*, are not served by
// the module proxy this project builds from), so this one is held to it by
// cli-flags.json, recorded from the CLI's source: it parses exactly those
// flags, with those defaults, and binds them to AP_* and AKASH_*
// environment variables as the real one does (the provider pod sets
// AKASH_NODE, AKASH_CHAIN_ID, AKASH_FROM, AKASH_KEYRING_BACKEND). Keys live
// in a real cosmos-sdk test-backend keyring; the passphrase is read from
// stdin like the real import; the output is a cosmos-sdk TxResponse in
// proto JSON, and errors are "Error: ..." on stderr with exit status 1.
//
// One difference, by necessity: --node is the chain simulator's REST
// address, where the real CLI speaks CometBFT RPC.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	cryptocodec "github.com/cosmos/cosmos-sdk/crypto/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/spf13/pflag"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

//go:embed cli-flags.json
var flagsJSON []byte

type flagSpec struct {
	Name, Shorthand, Type, Default string
}

type spec struct {
	EnvPrefixes []string              `json:"env_prefixes"`
	Persistent  []flagSpec            `json:"persistent"`
	Commands    map[string][]flagSpec `json:"commands"`
}

func main() {
	sdk.GetConfig().SetBech32PrefixForAccount("akash", "akashpub")
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	var s spec
	if err := json.Unmarshal(flagsJSON, &s); err != nil {
		return fmt.Errorf("cli-flags.json: %w", err)
	}
	var path []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = append(path, args[0]), args[1:]
		if _, ok := s.Commands[strings.Join(path, " ")]; ok {
			break
		}
	}
	name := strings.Join(path, " ")
	flags, ok := s.Commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q for %q", name, "provider-services")
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range append(append([]flagSpec{}, s.Persistent...), flags...) {
		if err := define(fs, f); err != nil {
			return err
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := bindEnv(fs, s.EnvPrefixes); err != nil {
		return err
	}
	switch name {
	case "keys import":
		return importKey(fs, stdin)
	case "keys show":
		return showKey(fs, stdout)
	case "tx market bid close":
		return closeBid(fs, stdin, stdout)
	}
	return fmt.Errorf("command %q is recorded but not implemented by the stand-in", name)
}

func define(fs *pflag.FlagSet, f flagSpec) error {
	switch f.Type {
	case "string":
		fs.StringP(f.Name, f.Shorthand, os.ExpandEnv(f.Default), "")
	case "bool":
		fs.BoolP(f.Name, f.Shorthand, false, "")
	case "uint64":
		fs.Uint64P(f.Name, f.Shorthand, 0, "")
	case "uint32":
		fs.Uint32P(f.Name, f.Shorthand, 0, "")
	case "int32":
		fs.Int32P(f.Name, f.Shorthand, 0, "")
	case "int":
		fs.IntP(f.Name, f.Shorthand, 0, "")
	case "float64":
		fs.Float64P(f.Name, f.Shorthand, 0, "")
	case "duration":
		fs.DurationP(f.Name, f.Shorthand, 0, "")
	default:
		return fmt.Errorf("cli-flags.json: flag %s has unknown type %q", f.Name, f.Type)
	}
	if f.Type != "string" {
		if err := fs.Set(f.Name, f.Default); err != nil {
			return fmt.Errorf("cli-flags.json: default of %s: %w", f.Name, err)
		}
		fs.Lookup(f.Name).Changed = false
	}
	return nil
}

// bindEnv gives each flag not on the command line the value of
// <PREFIX>_<NAME> (dashes as underscores, upper case), the first prefix
// found winning.
func bindEnv(fs *pflag.FlagSet, prefixes []string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		for _, p := range prefixes {
			key := p + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if v, ok := os.LookupEnv(key); ok {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("invalid value %q of %s: %v", v, key, e)
				}
				return
			}
		}
	})
	return err
}

func openKeyring(fs *pflag.FlagSet) (keyring.Keyring, error) {
	backend, _ := fs.GetString("keyring-backend")
	if backend != keyring.BackendTest {
		return nil, fmt.Errorf("keyring backend %q is not available in a container; use test", backend)
	}
	dir, _ := fs.GetString("keyring-dir")
	if dir == "" {
		dir, _ = fs.GetString("home")
	}
	reg := codectypes.NewInterfaceRegistry()
	cryptocodec.RegisterInterfaces(reg)
	return keyring.New("akash", backend, dir, nil, codec.NewProtoCodec(reg))
}

func importKey(fs *pflag.FlagSet, stdin io.Reader) error {
	if fs.NArg() != 2 {
		return fmt.Errorf("accepts 2 arg(s), received %d", fs.NArg())
	}
	name, file := fs.Arg(0), fs.Arg(1)
	armor, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	pass, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && pass != "") {
		return err
	}
	if pass = strings.TrimSpace(pass); len(pass) < 8 {
		return errors.New("password must be at least 8 characters")
	}
	kr, err := openKeyring(fs)
	if err != nil {
		return err
	}
	return kr.ImportPrivKey(name, string(armor), pass)
}

// showKey prints a key's address (--address), the one use the closer has.
func showKey(fs *pflag.FlagSet, stdout io.Writer) error {
	if fs.NArg() != 1 {
		return fmt.Errorf("the stand-in shows one key, got %d", fs.NArg())
	}
	if addr, _ := fs.GetBool("address"); !addr {
		return errors.New("the stand-in prints --address only")
	}
	kr, err := openKeyring(fs)
	if err != nil {
		return err
	}
	signer, err := loadSigner(kr, fs.Arg(0))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, signer.Address)
	return err
}

func closeBid(fs *pflag.FlagSet, stdin io.Reader, stdout io.Writer) error {
	if fs.NArg() != 0 {
		return fmt.Errorf("accepts 0 arg(s), received %d", fs.NArg())
	}
	reason, _ := fs.GetInt32("reason")
	if reason < 10000 || reason > 19999 {
		return errors.New("invalid --reason value. expected range 10000..19999")
	}
	mode, _ := fs.GetString("broadcast-mode")
	if mode != "sync" && mode != "async" && mode != "block" {
		return fmt.Errorf("invalid broadcast mode %q. expected async|sync|block", mode)
	}
	from, _ := fs.GetString("from")
	if from == "" {
		return errors.New("--from is required: the key that signs")
	}
	kr, err := openKeyring(fs)
	if err != nil {
		return err
	}
	signer, err := loadSigner(kr, from)
	if err != nil {
		return err
	}
	owner, _ := fs.GetString("owner")
	if _, err := sdk.AccAddressFromBech32(owner); err != nil {
		return fmt.Errorf("--owner %q: %w", owner, err)
	}
	dseq, _ := fs.GetUint64("dseq")
	gseq, _ := fs.GetUint32("gseq")
	oseq, _ := fs.GetUint32("oseq")
	// The provider is the signer's address, whatever --provider says: the
	// command builds the bid ID with the --from address.
	id := chain.BidID{Owner: owner, DSeq: dseq, GSeq: gseq, OSeq: oseq, Provider: signer.Address}
	if yes, _ := fs.GetBool("yes"); !yes {
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("tx client: transaction declined by user input")
		}
	}
	node, _ := fs.GetString("node")
	chainID, _ := fs.GetString("chain-id")
	prices, _ := fs.GetString("gas-prices")
	adj, _ := fs.GetFloat64("gas-adjustment")
	if gas, _ := fs.GetString("gas"); gas != "auto" {
		return fmt.Errorf("--gas %q: the stand-in only simulates (auto)", gas)
	}
	node = strings.Replace(node, "tcp://", "http://", 1)
	client := &chain.Client{Endpoints: []string{node}, Timeout: 15 * time.Second, Rounds: 1}
	if err := client.Validate(); err != nil {
		return fmt.Errorf("--node: %w", err)
	}
	// A sequence mismatch is resent once, as the CLI's broadcaster does.
	closer := &leaseclose.TxCloser{Chain: client, Signer: signer, ChainID: chainID, GasPrices: prices, GasAdjustment: adj, SequenceRetries: 1}
	if err := closer.Validate(); err != nil {
		return err
	}
	resp, err := closer.Broadcast(context.Background(), []chain.BidID{id}, reason)
	if err != nil && resp.Hash == "" {
		return err
	}
	// A transaction the node refused is printed, code and log, and the
	// command succeeds: the caller reads the code.
	return printTxResponse(stdout, resp)
}

// loadSigner reads the key from the keyring, by name or address.
func loadSigner(kr keyring.Keyring, from string) (*chaintx.Signer, error) {
	rec, err := kr.Key(from)
	if err != nil {
		addr, aerr := sdk.AccAddressFromBech32(from)
		if aerr != nil {
			return nil, fmt.Errorf("%s is not a valid name or address: %w", from, err)
		}
		if rec, err = kr.KeyByAddress(addr); err != nil {
			return nil, err
		}
	}
	const transit = "akashcli-transit"
	armor, err := kr.ExportPrivKeyArmor(rec.Name, transit)
	if err != nil {
		return nil, err
	}
	return chaintx.LoadKey(armor, transit)
}

// printTxResponse prints the response as the CLI does: a cosmos-sdk
// TxResponse through the codec's proto JSON.
func printTxResponse(w io.Writer, r chain.TxResponse) error {
	reg := codectypes.NewInterfaceRegistry()
	out, err := codec.NewProtoCodec(reg).MarshalJSON(&sdk.TxResponse{
		Height: r.Height, TxHash: r.Hash, Codespace: r.Codespace, Code: r.Code, RawLog: r.RawLog,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}
