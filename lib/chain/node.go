package chain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cosmos/cosmos-sdk/types/bech32"
)

// AddressPrefix is the bech32 prefix of Akash account addresses.
const AddressPrefix = "akash"

// ValidateAddress checks an account address before the node is asked
// about it: a node answers a listing for an address that is not one with
// no leases at all, so a typo would read as "nothing to do".
func ValidateAddress(addr string) error {
	if addr == "" {
		return errors.New("empty address")
	}
	hrp, data, err := bech32.DecodeAndConvert(addr)
	if err != nil {
		return fmt.Errorf("address %q is not bech32: %v", addr, err)
	}
	if hrp != AddressPrefix {
		return fmt.Errorf("address %q has the prefix %q, not %q", addr, hrp, AddressPrefix)
	}
	if len(data) != 20 && len(data) != 32 {
		return fmt.Errorf("address %q holds %d bytes, not 20 or 32", addr, len(data))
	}
	return nil
}

// NodeInfo is what a node says of itself.
type NodeInfo struct {
	// Network is the chain ID (akashnet-2).
	Network string
	// AppVersion is the node's application version (2.0.1).
	AppVersion string
	// CometBFT is the consensus engine's version.
	CometBFT string
}

// KnowsReclamation tells whether the node has lease reclamation (AEP-82,
// node 2.1 on): the reclaiming state, MsgLeaseStartReclaim. An unknown
// version is taken as not knowing it; the listing says so anyway.
func (n NodeInfo) KnowsReclamation() bool {
	major, minor, ok := majorMinor(n.AppVersion)
	return ok && (major > 2 || (major == 2 && minor >= 1))
}

// predatesReclamation tells whether the node's version is known and older
// than 2.1. A version that does not parse is not taken as older: the
// listing is asked, and a refusal says so.
func (n NodeInfo) predatesReclamation() bool {
	major, minor, ok := majorMinor(n.AppVersion)
	return ok && (major < 2 || (major == 2 && minor < 1))
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// NodeInfo asks the node its version (/cosmos/base/tendermint/v1beta1/node_info),
// and remembers it for the listings that depend on it.
func (c *Client) NodeInfo(ctx context.Context) (NodeInfo, error) {
	if err := c.Validate(); err != nil {
		return NodeInfo{}, err
	}
	var resp struct {
		Default *struct {
			Network string `json:"network"`
			Version string `json:"version"`
		} `json:"default_node_info"`
		App *struct {
			Version string `json:"version"`
		} `json:"application_version"`
	}
	if err := c.get(ctx, "/cosmos/base/tendermint/v1beta1/node_info", nil, &resp); err != nil {
		return NodeInfo{}, fmt.Errorf("read the node's version: %w", err)
	}
	if resp.App == nil || resp.App.Version == "" {
		return NodeInfo{}, errors.New("read the node's version: the answer has no application_version.version")
	}
	n := NodeInfo{AppVersion: resp.App.Version}
	if resp.Default != nil {
		n.Network, n.CometBFT = resp.Default.Network, resp.Default.Version
	}
	c.mu.Lock()
	c.node = &n
	c.mu.Unlock()
	return n, nil
}

// SequenceMismatch is a node refusing a transaction signed with a sequence
// other than the account's next one: at simulate (HTTP 500 code 2) or at
// broadcast (sdk code 32). Expected is the sequence the node named, when it
// did.
type SequenceMismatch struct {
	Expected, Got uint64
	Named         bool
	Message       string
}

// Error is the node's own message, which names the mismatch.
func (e *SequenceMismatch) Error() string { return e.Message }

// parseSequenceMismatch reads "account sequence mismatch, expected N, got M".
func parseSequenceMismatch(msg string) (*SequenceMismatch, bool) {
	i := strings.Index(msg, "account sequence mismatch")
	if i < 0 {
		return nil, false
	}
	e := &SequenceMismatch{Message: msg}
	var exp, got uint64
	if n, _ := fmt.Sscanf(msg[i:], "account sequence mismatch, expected %d, got %d", &exp, &got); n == 2 {
		e.Expected, e.Got, e.Named = exp, got, true
	}
	return e, true
}
