package leaseclose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// Runner runs the official Akash CLI somewhere: in the job's own container
// (LocalRunner) or in the provider pod (PodExecRunner).
type Runner interface {
	// Run runs argv (argv[0] is the CLI) with stdin, returning what it
	// wrote. A non-zero exit is an *ExitError.
	Run(ctx context.Context, argv []string, stdin []byte) (stdout, stderr []byte, err error)
	// Backend is cli or exec, for the audit line.
	Backend() string
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := lastLine(e.Stderr)
	if msg == "" {
		msg = "no message on stderr"
	}
	return fmt.Sprintf("exit status %d: %s", e.Code, msg)
}

// lastLine is the last non-empty line: the CLI's "Error: ..." line comes
// after any usage text or log lines.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// CommandCloser closes each lease by running the official CLI's
// `tx market bid close` (provider-services, or akt which has the same
// command), and starts reclamation windows with `tx market bid
// start-reclaim` where the CLI has it (node 2.1's on), one lease per
// transaction as the CLI does, then waits on the chain's REST API for the
// transaction to be included.
//
// The CLI signs for the key named by --from (or the provider pod's
// AKASH_FROM), so it can only close the key's own bids: no authz, and no
// bid sequence other than 0 (the command has no --bseq flag).
type CommandCloser struct {
	Runner Runner
	// CLI is the command, a name on the runner's PATH or a path.
	CLI string
	// ProviderAddress is whose leases are closed: the key's account.
	ProviderAddress string
	// Chain confirms inclusion and is read before each close.
	Chain *chain.Client
	// Flags go after the command's own flags: gas, and with the local
	// runner the key, node and chain ID (the provider pod has them in its
	// environment).
	Flags []string
	// Setup runs once before the first close of each Close call (the local
	// runner imports the key into a fresh keyring) and returns flags for
	// the closes and its cleanup.
	Setup func(ctx context.Context) (flags []string, cleanup func(), err error)
	// Timeout bounds one CLI run (2 minutes if 0); WaitTimeout the wait
	// for inclusion (60 s if 0).
	Timeout, WaitTimeout time.Duration
	// SequenceRetries bounds how often a close the node refused for a
	// sequence mismatch is run again (2 if 0): the CLI resends once
	// itself, and the provider daemon may keep using the account.
	SequenceRetries int

	// commands are the CLI's `tx market bid` commands, once asked.
	commands map[string]bool
}

func (c *CommandCloser) Backend() string  { return c.Runner.Backend() }
func (c *CommandCloser) Provider() string { return c.ProviderAddress }

// Argv is the command line closing one lease, extra flags last.
func (c *CommandCloser) Argv(l chain.Lease, reason int32, extra ...string) []string {
	return c.argv("close", l, reason, extra...)
}

// argv is the command line of `tx market bid <sub>` (close, or
// start-reclaim, which takes the same flags: chain-sdk go/cli/market_tx.go)
// for one lease.
func (c *CommandCloser) argv(sub string, l chain.Lease, reason int32, extra ...string) []string {
	id := l.ID
	argv := []string{c.CLI, "tx", "market", "bid", sub,
		"--owner", id.Owner, "--dseq", strconv.FormatUint(id.DSeq, 10),
		"--gseq", strconv.FormatUint(uint64(id.GSeq), 10), "--oseq", strconv.FormatUint(uint64(id.OSeq), 10),
		"--provider", id.Provider,
		"--reason", strconv.FormatInt(int64(reason), 10),
		"--broadcast-mode", "sync", "--output", "json", "--yes"}
	argv = append(argv, c.Flags...)
	return append(argv, extra...)
}

// StartReclaim starts the leases' reclamation windows with `tx market bid
// start-reclaim`, which the CLI of node 2.1 on has (chain-sdk go/v0.2.11);
// an older CLI is asked once (`tx market bid --help`), and refused with
// ErrStartReclaimUnsupported.
func (c *CommandCloser) StartReclaim(ctx context.Context, leases []chain.Lease, reason int32) []Result {
	return c.each(ctx, "start-reclaim", leases, reason, precheckStart)
}

// Close closes the leases one by one. A lease that cannot be addressed, is
// another provider's, closed or reclaiming is refused without running
// anything.
func (c *CommandCloser) Close(ctx context.Context, leases []chain.Lease, reason int32) []Result {
	return c.each(ctx, "close", leases, reason, precheck)
}

// CloseBids closes open bids one by one with `tx market bid close`, the
// command that closes a lease: MsgCloseBid is both.
func (c *CommandCloser) CloseBids(ctx context.Context, bids []chain.BidID, reason int32) []Result {
	return c.each(ctx, "close", bidsAsLeases(bids), reason, precheckBid)
}

// each runs `tx market bid <sub>` for each lease check allows.
func (c *CommandCloser) each(ctx context.Context, sub string, leases []chain.Lease, reason int32, check func(chain.Lease, string) error) []Result {
	results := make([]Result, len(leases))
	var todo []int
	for i, l := range leases {
		results[i].Lease = l
		if err := check(l, c.ProviderAddress); err != nil {
			results[i].Err = err
			continue
		}
		if l.BSeq != 0 {
			results[i].Err = fmt.Errorf("lease %s has bid sequence %d, which `%s tx market bid %s` cannot address (it has no --bseq): use the tx closer", l.ID, l.BSeq, c.CLI, sub)
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return results
	}
	fail := func(err error) []Result {
		for _, i := range todo {
			results[i].Err = err
		}
		return results
	}
	if sub != "close" {
		if err := c.has(ctx, sub); err != nil {
			return fail(err)
		}
	}
	var extra []string
	if c.Setup != nil {
		sctx, cancel := context.WithTimeout(ctx, c.timeout())
		flags, cleanup, err := c.Setup(sctx)
		cancel()
		if err != nil {
			return fail(err)
		}
		defer cleanup()
		extra = flags
	}
	for _, i := range todo {
		results[i].TxHash, results[i].Err = c.sendOne(ctx, sub, leases[i], reason, extra)
	}
	return results
}

// has checks, once, that the CLI has `tx market bid <sub>`, from the
// command list its `tx market bid --help` prints.
func (c *CommandCloser) has(ctx context.Context, sub string) error {
	if c.commands == nil {
		hctx, cancel := context.WithTimeout(ctx, c.timeout())
		stdout, stderr, err := c.Runner.Run(hctx, []string{c.CLI, "tx", "market", "bid", "--help"}, nil)
		cancel()
		if err != nil {
			if msg := lastLine(string(stderr)); msg != "" {
				err = fmt.Errorf("%w; it said: %s", err, msg)
			}
			return fmt.Errorf("ask %s (%s) which bid commands it has: %w", c.CLI, c.Backend(), err)
		}
		c.commands = map[string]bool{}
		inList := false
		for _, line := range strings.Split(string(stdout), "\n") {
			switch {
			case strings.HasPrefix(line, "Available Commands:"):
				inList = true
			case inList && strings.HasPrefix(line, "  "):
				if f := strings.Fields(line); len(f) > 0 {
					c.commands[f[0]] = true
				}
			case inList:
				inList = false
			}
		}
	}
	if !c.commands[sub] {
		return fmt.Errorf("`%s tx market bid` has no %s (a CLI older than node 2.1's): %w", c.CLI, sub, ErrStartReclaimUnsupported)
	}
	return nil
}

func (c *CommandCloser) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Minute
	}
	return c.Timeout
}

func (c *CommandCloser) sendOne(ctx context.Context, sub string, l chain.Lease, reason int32, extra []string) (string, error) {
	retries := c.SequenceRetries
	if retries == 0 {
		retries = 2
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.run(ctx, sub, l, reason, extra)
		if err != nil {
			return "", err
		}
		if resp.SequenceMismatch() && attempt < retries {
			continue // the provider used its account meanwhile: run it again
		}
		if !resp.OK() {
			return resp.Hash, fmt.Errorf("the node refused the transaction (%s code %d): %s", resp.Codespace, resp.Code, resp.RawLog)
		}
		return resp.Hash, waitIncluded(ctx, c.Chain, resp.Hash, c.WaitTimeout)
	}
}

// run runs the command once and reads the response it printed.
func (c *CommandCloser) run(ctx context.Context, sub string, l chain.Lease, reason int32, extra []string) (chain.TxResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	stdout, stderr, err := c.Runner.Run(rctx, c.argv(sub, l, reason, extra...), nil)
	var exit *ExitError
	switch {
	case rctx.Err() != nil:
		return chain.TxResponse{}, fmt.Errorf("%s (%s) for lease %s did not finish: %w; it may have broadcast the %s: the next run reads the lease again", c.CLI, c.Backend(), l.ID, context.Cause(rctx), sub)
	case errors.As(err, &exit):
		return chain.TxResponse{}, fmt.Errorf("%s (%s) refused to %s lease %s: %w", c.CLI, c.Backend(), sub, l.ID, err)
	case err != nil && len(bytes.TrimSpace(stderr)) > 0:
		return chain.TxResponse{}, fmt.Errorf("run %s (%s) for lease %s: %w; it said: %s", c.CLI, c.Backend(), l.ID, err, lastLine(string(stderr)))
	case err != nil:
		return chain.TxResponse{}, fmt.Errorf("run %s (%s) for lease %s: %w", c.CLI, c.Backend(), l.ID, err)
	}
	resp, err := parseTxResponse(stdout)
	if err != nil {
		return chain.TxResponse{}, fmt.Errorf("%s (%s) for lease %s: %w (stderr: %q)", c.CLI, c.Backend(), l.ID, err, lastLine(string(stderr)))
	}
	return resp, nil
}

// parseTxResponse reads the CLI's `-o json` print of a cosmos-sdk
// TxResponse (proto JSON: txhash, code, codespace, raw_log, uint64 fields
// as strings). The CLI may print log lines before it; the response is the
// last line that is a JSON object.
func parseTxResponse(out []byte) (chain.TxResponse, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var w struct {
			TxHash    string      `json:"txhash"`
			Code      *uint32     `json:"code"`
			Codespace string      `json:"codespace"`
			RawLog    string      `json:"raw_log"`
			Height    json.Number `json:"height"`
		}
		if err := json.Unmarshal(line, &w); err != nil {
			return chain.TxResponse{}, fmt.Errorf("its output is not a transaction response: %v", err)
		}
		if w.TxHash == "" {
			return chain.TxResponse{}, errors.New("its output has no txhash")
		}
		r := chain.TxResponse{Hash: w.TxHash, Codespace: w.Codespace, RawLog: w.RawLog}
		if w.Code != nil {
			r.Code = *w.Code
		}
		if w.Height != "" {
			h, err := w.Height.Int64()
			if err != nil {
				return chain.TxResponse{}, fmt.Errorf("its output's height %q: %v", w.Height, err)
			}
			r.Height = h
		}
		return r, nil
	}
	return chain.TxResponse{}, errors.New("it printed no transaction response")
}

// KeyImport returns a Setup that imports the armored key into a fresh
// test-backend keyring, in a new directory under parent (the OS's temp
// directory if empty), as name, with `<cli> keys import`; the passphrase
// goes on stdin, never on the command line. The closes get --from,
// --keyring-backend and --home for it; the directory, which holds the key
// unencrypted, is removed by the cleanup.
func KeyImport(r Runner, cli, parent, name, keyFile string, pass []byte) func(ctx context.Context) ([]string, func(), error) {
	return func(ctx context.Context) ([]string, func(), error) {
		dir, err := os.MkdirTemp(parent, "akash-cli-")
		if err != nil {
			return nil, nil, fmt.Errorf("keyring directory for %s: %w", cli, err)
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		keyring := []string{"--keyring-backend", "test", "--home", dir}
		argv := append([]string{cli, "keys", "import", name, keyFile}, keyring...)
		stdin := slices.Concat(bytes.TrimRight(pass, "\r\n"), []byte{'\n'})
		if _, _, err := r.Run(ctx, argv, stdin); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("%s keys import %s: %w", cli, keyFile, err)
		}
		return append([]string{"--from", name}, keyring...), cleanup, nil
	}
}

// PodKeyCheck returns a Setup for the exec closer: the key the provider pod
// signs with (its AKASH_FROM) must be provider's account, or nothing is
// closed. The CLI builds the bid ID from that key, whatever --provider says.
func PodKeyCheck(r Runner, cli, provider string) func(ctx context.Context) ([]string, func(), error) {
	return func(ctx context.Context) ([]string, func(), error) {
		argv := []string{"sh", "-c", `exec "$0" keys show "$AKASH_FROM" --address`, cli}
		stdout, stderr, err := r.Run(ctx, argv, nil)
		if err != nil {
			if msg := lastLine(string(stderr)); msg != "" {
				err = fmt.Errorf("%w; it said: %s", err, msg)
			}
			return nil, nil, fmt.Errorf("read the provider pod's key (%s keys show $AKASH_FROM): %w", cli, err)
		}
		if got := strings.TrimSpace(string(stdout)); got != provider {
			return nil, nil, fmt.Errorf("the provider pod signs with %q (its AKASH_FROM), not --provider=%s: refusing to close with it", got, provider)
		}
		return nil, func() {}, nil
	}
}
