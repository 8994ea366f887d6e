package chaintest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"sort"
	"strconv"
	"strings"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// What the chain registers of a provider besides its leases: its
// registration and attributes (node x/provider), the attributes auditors
// signed for it (node x/audit), and the certificates accounts published
// (node x/cert).

type registry struct {
	providers map[string]chain.Provider
	audits    map[string]map[string][]chain.Attribute // owner, auditor
	certs     map[string][]chain.Certificate          // owner
}

// SetProvider registers (or updates) a provider with its host URI and
// attributes, as MsgCreateProvider and MsgUpdateProvider do.
func (c *Chain) SetProvider(owner, hostURI string, attrs ...chain.Attribute) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reg.providers == nil {
		c.reg.providers = map[string]chain.Provider{}
	}
	c.reg.providers[owner] = chain.Provider{Owner: owner, HostURI: hostURI, Attributes: attrs}
}

// SignAttributes records an auditor's signed attributes of a provider, as
// MsgSignProviderAttributes does (replacing that auditor's earlier set).
func (c *Chain) SignAttributes(owner, auditor string, attrs ...chain.Attribute) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reg.audits == nil {
		c.reg.audits = map[string]map[string][]chain.Attribute{}
	}
	if c.reg.audits[owner] == nil {
		c.reg.audits[owner] = map[string][]chain.Attribute{}
	}
	c.reg.audits[owner][auditor] = attrs
}

// AddCertificate publishes a certificate of the owner (MsgCreateCertificate)
// in the state (valid, or revoked).
func (c *Chain) AddCertificate(owner, serial, state string, pemCert []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reg.certs == nil {
		c.reg.certs = map[string][]chain.Certificate{}
	}
	c.reg.certs[owner] = append(c.reg.certs[owner], chain.Certificate{Serial: serial, State: state, PEM: pemCert})
}

func attrsJSON(attrs []chain.Attribute) []any {
	out := []any{}
	for _, a := range attrs {
		out = append(out, map[string]any{"key": a.Key, "value": a.Value})
	}
	return out
}

func notFound(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": msg, "details": []any{}})
}

// serveRegistry answers the provider, audit and certificate queries, as
// the nodes' query servers do: node x/provider/keeper/grpc_query.go
// Provider, x/audit/keeper/grpc_query.go ProviderAttributes,
// x/cert/keeper/grpc_query.go Certificates. It reports whether the path
// was one of them.
func (c *Chain) serveRegistry(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/akash/provider/v1beta4/providers/"):
		owner := strings.TrimPrefix(path, "/akash/provider/v1beta4/providers/")
		if _, err := sdk.GetFromBech32(owner, chaintx.AddressPrefix); err != nil {
			badRequest(w, "codespace provider code 5: invalid address")
			return true
		}
		c.mu.Lock()
		p, ok := c.reg.providers[owner]
		c.mu.Unlock()
		if !ok {
			notFound(w, "codespace provider code 3: invalid provider: address not found")
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"provider": map[string]any{"owner": p.Owner, "host_uri": p.HostURI,
			"attributes": attrsJSON(p.Attributes), "info": map[string]any{"email": "", "website": ""}}})
	case strings.HasPrefix(path, "/akash/audit/v1/audit/attributes/") && strings.HasSuffix(path, "/list") && strings.Count(path, "/") == 7:
		owner := strings.TrimSuffix(strings.TrimPrefix(path, "/akash/audit/v1/audit/attributes/"), "/list")
		if _, err := sdk.GetFromBech32(owner, chaintx.AddressPrefix); err != nil {
			badRequest(w, "codespace audit code 2: invalid address")
			return true
		}
		c.mu.Lock()
		signed := c.reg.audits[owner]
		auditors := make([]string, 0, len(signed))
		for a := range signed {
			auditors = append(auditors, a)
		}
		sort.Strings(auditors)
		out := []any{}
		for _, a := range auditors {
			out = append(out, map[string]any{"owner": owner, "auditor": a, "attributes": attrsJSON(signed[a])})
		}
		c.mu.Unlock()
		if len(out) == 0 {
			notFound(w, "codespace audit code 1: invalid provider: address not found")
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"providers": out, "pagination": nil})
	case path == "/akash/cert/v1/certificates/list":
		q := r.URL.Query()
		state := q.Get("filter.state")
		if state != "" && state != "valid" && state != "revoked" {
			badRequest(w, "invalid state value")
			return true
		}
		owner := q.Get("filter.owner")
		c.mu.Lock()
		out := []any{}
		// Valid ones first, then revoked, as the node walks its states.
		for _, s := range []string{"valid", "revoked"} {
			if state != "" && s != state {
				continue
			}
			for o, certs := range c.reg.certs {
				if owner != "" && o != owner {
					continue
				}
				for _, cert := range certs {
					if cert.State == s {
						out = append(out, map[string]any{"certificate": map[string]any{"state": cert.State,
							"cert": base64.StdEncoding.EncodeToString(cert.PEM), "pubkey": base64.StdEncoding.EncodeToString(publicKeyPEM(cert.PEM))}, "serial": cert.Serial})
					}
				}
			}
		}
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"certificates": out, "pagination": map[string]any{"next_key": nil, "total": strconv.Itoa(len(out))}})
	default:
		return false
	}
	return true
}

// publicKeyPEM is the certificate's public key as the chain keeps it
// beside it: PEM, type EC PUBLIC KEY (chain-sdk go/node/cert/v1
// PemBlkTypeECPublicKey); nothing for what does not parse.
func publicKeyPEM(certPEM []byte) []byte {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PUBLIC KEY", Bytes: der})
}
