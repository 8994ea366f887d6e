package chain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// Attribute is a key and value (chain-sdk akash/base/attributes/v1
// attribute.proto).
type Attribute struct{ Key, Value string }

type wireAttribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func attributes(w []wireAttribute) []Attribute {
	out := make([]Attribute, len(w))
	for i, a := range w {
		out[i] = Attribute(a)
	}
	return out
}

// Provider is a provider as the chain registers it: its host URI and the
// attributes it advertises (chain-sdk akash/provider/v1beta4
// provider.proto).
type Provider struct {
	Owner      string
	HostURI    string
	Attributes []Attribute
}

// ProviderInfo reads the provider's registration (node
// x/provider/keeper/grpc_query.go Provider); ErrNotFound when the chain
// has none.
func (c *Client) ProviderInfo(ctx context.Context, owner string) (Provider, error) {
	if err := c.Validate(); err != nil {
		return Provider{}, err
	}
	if err := ValidateAddress(owner); err != nil {
		return Provider{}, fmt.Errorf("read provider %q: %w", owner, err)
	}
	var resp struct {
		Provider *struct {
			Owner      string          `json:"owner"`
			HostURI    string          `json:"host_uri"`
			Attributes []wireAttribute `json:"attributes"`
		} `json:"provider"`
	}
	if err := c.get(ctx, "/akash/provider/v1beta4/providers/"+url.PathEscape(owner), nil, &resp); err != nil {
		return Provider{}, fmt.Errorf("read provider %s: %w", owner, err)
	}
	if resp.Provider == nil || resp.Provider.Owner != owner {
		return Provider{}, fmt.Errorf("read provider %s: the answer is not that provider's", owner)
	}
	return Provider{Owner: owner, HostURI: resp.Provider.HostURI, Attributes: attributes(resp.Provider.Attributes)}, nil
}

// AuditedAttributes is one auditor's signed set of a provider's
// attributes (chain-sdk akash/audit/v1 audit.proto AuditedProvider).
type AuditedAttributes struct {
	Auditor    string
	Attributes []Attribute
}

// Audits reads every auditor's signed attributes of the provider (node
// x/audit/keeper/grpc_query.go ProviderAttributes); none (not an error)
// when no auditor signed any.
func (c *Client) Audits(ctx context.Context, owner string) ([]AuditedAttributes, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateAddress(owner); err != nil {
		return nil, fmt.Errorf("read the audits of %q: %w", owner, err)
	}
	var resp struct {
		Providers *[]struct {
			Owner      string          `json:"owner"`
			Auditor    string          `json:"auditor"`
			Attributes []wireAttribute `json:"attributes"`
		} `json:"providers"`
	}
	err := c.get(ctx, "/akash/audit/v1/audit/attributes/"+url.PathEscape(owner)+"/list", nil, &resp)
	if errors.Is(err, ErrNotFound) {
		return nil, nil // the audit module keeps no record of an unaudited provider
	}
	if err != nil {
		return nil, fmt.Errorf("read the audits of %s: %w", owner, err)
	}
	if resp.Providers == nil {
		return nil, fmt.Errorf("read the audits of %s: the answer has no \"providers\" field", owner)
	}
	var out []AuditedAttributes
	for _, p := range *resp.Providers {
		if p.Owner != owner {
			return nil, fmt.Errorf("read the audits of %s: the node answered an audit of %s", owner, p.Owner)
		}
		out = append(out, AuditedAttributes{Auditor: p.Auditor, Attributes: attributes(p.Attributes)})
	}
	return out, nil
}

// Certificate is a certificate an account published on chain, for mTLS
// between tenants and providers (chain-sdk akash/cert/v1 cert.proto).
type Certificate struct {
	Serial string
	State  string // valid, revoked
	// PEM is the certificate, PEM-encoded as the chain keeps it.
	PEM []byte
}

// Certificates lists the owner's certificates in the state ("" for all),
// every page (node x/cert/keeper/grpc_query.go Certificates).
func (c *Client) Certificates(ctx context.Context, owner, state string) ([]Certificate, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateAddress(owner); err != nil {
		return nil, fmt.Errorf("list the certificates of %q: %w", owner, err)
	}
	limit := c.PageLimit
	if limit <= 0 {
		limit = 1000
	}
	q := url.Values{"filter.owner": {owner}, "pagination.limit": {strconv.Itoa(limit)}}
	if state != "" {
		q.Set("filter.state", state)
	}
	type wireCert struct {
		Certificate *struct {
			State string `json:"state"`
			Cert  string `json:"cert"`
		} `json:"certificate"`
		Serial string `json:"serial"`
	}
	type wireCerts struct {
		Certificates *[]wireCert     `json:"certificates"`
		Pagination   *wirePagination `json:"pagination"`
	}
	var out []Certificate
	err := listPages(ctx, c, "/akash/cert/v1/certificates/list", q, limit, "the certificates of "+owner, func(page int, resp *wireCerts) (*wirePagination, error) {
		if resp.Certificates == nil {
			return nil, fmt.Errorf("list the certificates of %s (page %d): the answer has no \"certificates\" field", owner, page+1)
		}
		for i, w := range *resp.Certificates {
			if w.Certificate == nil {
				return nil, fmt.Errorf("list the certificates of %s (page %d): certificates[%d] has no certificate", owner, page+1, i)
			}
			pem, err := base64.StdEncoding.DecodeString(w.Certificate.Cert)
			if err != nil {
				return nil, fmt.Errorf("list the certificates of %s (page %d): certificate %s: cert is not base64: %v", owner, page+1, w.Serial, err)
			}
			out = append(out, Certificate{Serial: w.Serial, State: w.Certificate.State, PEM: pem})
		}
		return resp.Pagination, nil
	})
	return out, err
}
