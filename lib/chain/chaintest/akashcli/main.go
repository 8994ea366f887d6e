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
// It is the CLI of node 2.1 (chain-sdk go/v0.2.11 on), which has `tx
// market bid start-reclaim`; run under a name ending in -2.0 it is the
// CLI of node 2.0, which has not (a test installs one name per era, see
// chaintest.BuildCLI). `<group> --help` lists the commands of the era.
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
	"path/filepath"
	"slices"
	"sort"
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
	Short       map[string]string     `json:"short"`
	// Since names the CLI era a command came with (2.1: node 2.1's).
	Since map[string]string `json:"since"`
}

func main() {
	sdk.GetConfig().SetBech32PrefixForAccount("akash", "akashpub")
	era := "2.1"
	if strings.HasSuffix(filepath.Base(os.Args[0]), "-2.0") {
		era = "2.0"
	}
	if err := run(era, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(era string, args []string, stdin io.Reader, stdout io.Writer) error {
	var s spec
	if err := json.Unmarshal(flagsJSON, &s); err != nil {
		return fmt.Errorf("cli-flags.json: %w", err)
	}
	for name, since := range s.Since {
		if since > era {
			delete(s.Commands, name)
		}
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
		return s.group(name, args, stdout)
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
		return closeBid(fs, stdin, stdout, chain.TypeURLMsgCloseBid)
	case "tx market bid start-reclaim":
		return closeBid(fs, stdin, stdout, chain.TypeURLMsgLeaseStartReclaim)
	}
	return fmt.Errorf("command %q is recorded but not implemented by the stand-in", name)
}

// group answers a command group (`tx market bid`) as cosmos-sdk's
// client.ValidateCmd does: an unknown subcommand is an error naming it and
// the group as called; else the help, which lists the group's commands
// of the era as cobra prints them.
func (s spec) group(name string, args []string, stdout io.Writer) error {
	var subs []string
	for cmd := range s.Commands {
		if rest, ok := strings.CutPrefix(cmd, name+" "); ok {
			sub, _, _ := strings.Cut(rest, " ")
			if !slices.Contains(subs, sub) {
				subs = append(subs, sub)
			}
		}
	}
	last := name[strings.LastIndex(name, " ")+1:]
	if len(subs) == 0 {
		// Not a group: the word the parent group does not know.
		parent := strings.TrimSuffix(name, " "+last)
		if parent == name {
			parent = "provider-services"
		} else {
			parent = parent[strings.LastIndex(parent, " ")+1:]
		}
		return fmt.Errorf("unknown command %q for %q", last, parent)
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return fmt.Errorf("unknown command %q for %q", a, last)
		}
	}
	sort.Strings(subs)
	fmt.Fprintf(stdout, "Usage:\n  provider-services %s [command]\n\nAvailable Commands:\n", name)
	for _, sub := range subs {
		fmt.Fprintf(stdout, "  %-14s %s\n", sub, s.Short[name+" "+sub])
	}
	fmt.Fprintf(stdout, "\nUse \"provider-services %s [command] --help\" for more information about a command.\n", name)
	return nil
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

// closeBid sends MsgCloseBid (tx market bid close) or MsgLeaseStartReclaim
// (tx market bid start-reclaim), which share their flags and fields.
func closeBid(fs *pflag.FlagSet, stdin io.Reader, stdout io.Writer, typeURL string) error {
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
	resp, err := closer.BroadcastMsgs(context.Background(), typeURL, []chain.BidID{id}, reason)
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
