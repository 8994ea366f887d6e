// Package akash models the parts of an Akash provider's Kubernetes state that
// the janitor jobs read: lease IDs, the labels the provider puts on what it
// creates, the lease namespace name, and Manifest custom resources.
package akash

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// Labels the provider sets on tenant namespaces, Manifest CRs and workloads.
const (
	// LabelAkash is "true" on everything the provider manages. The `lease` and
	// `akash-services` namespaces may carry it too, so never use it alone to
	// find tenant namespaces: select on LabelLeaseDSeq instead.
	LabelAkash = "akash.network"
	// LabelNamespace holds the lease namespace name.
	LabelNamespace = "akash.network/namespace"
	// LabelManifestService names the Manifest service a workload runs. It is on
	// Deployments, StatefulSets, their pods and Services, which carry no lease labels.
	LabelManifestService = "akash.network/manifest-service"

	LabelLeaseOwner    = "akash.network/lease.id.owner"
	LabelLeaseDSeq     = "akash.network/lease.id.dseq"
	LabelLeaseGSeq     = "akash.network/lease.id.gseq"
	LabelLeaseOSeq     = "akash.network/lease.id.oseq"
	LabelLeaseProvider = "akash.network/lease.id.provider"
)

// LeaseNamespace is the namespace that holds the provider's Manifest CRs,
// ProviderHosts and ProviderLeasedIPs by default: the provider's
// --k8s-manifest-ns (provider cmd/provider-services/cmd/run.go).
const LeaseNamespace = "lease"

// RegisterManifestNamespace adds --manifest-namespace, the provider's
// --k8s-manifest-ns, to a job that reads the provider's CRs.
func RegisterManifestNamespace(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "manifest-namespace", LeaseNamespace, "the namespace of the provider's Manifests, ProviderHosts and ProviderLeasedIPs: its --k8s-manifest-ns")
}

// LeaseID identifies a lease on chain: the tenant's deployment (owner, dseq),
// the group and order within it, and the provider that won the bid.
type LeaseID struct {
	Owner    string
	DSeq     uint64
	GSeq     uint32
	OSeq     uint32
	Provider string
}

// String renders the ID as the chain and the provider's logs do:
// owner/dseq/gseq/oseq/provider.
func (id LeaseID) String() string {
	return fmt.Sprintf("%s/%d/%d/%d/%s", id.Owner, id.DSeq, id.GSeq, id.OSeq, id.Provider)
}

// Namespace is the tenant namespace the provider creates for the lease:
// lowercase unpadded base32hex of the SHA-224 of String().
func (id LeaseID) Namespace() string {
	sum := sha256.Sum224([]byte(id.String()))
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

// Labels are the lease labels the provider puts on a tenant namespace and
// its Manifest CR.
func (id LeaseID) Labels() map[string]string {
	return map[string]string{
		LabelAkash:         "true",
		LabelNamespace:     id.Namespace(),
		LabelLeaseOwner:    id.Owner,
		LabelLeaseDSeq:     strconv.FormatUint(id.DSeq, 10),
		LabelLeaseGSeq:     strconv.FormatUint(uint64(id.GSeq), 10),
		LabelLeaseOSeq:     strconv.FormatUint(uint64(id.OSeq), 10),
		LabelLeaseProvider: id.Provider,
	}
}

// Validate reports what is wrong with an ID, all problems at once.
func (id LeaseID) Validate() error {
	var errs []error
	if id.Owner == "" {
		errs = append(errs, errors.New("owner is empty"))
	}
	if id.Provider == "" {
		errs = append(errs, errors.New("provider is empty"))
	}
	if id.DSeq == 0 {
		errs = append(errs, errors.New("dseq is 0"))
	}
	if id.GSeq == 0 {
		errs = append(errs, errors.New("gseq is 0"))
	}
	if id.OSeq == 0 {
		errs = append(errs, errors.New("oseq is 0"))
	}
	return errors.Join(errs...)
}

// LeaseIDFromLabels reads a lease ID from the provider's lease labels. The
// error names every missing or malformed label.
func LeaseIDFromLabels(labels map[string]string) (LeaseID, error) {
	var (
		id   LeaseID
		errs []error
	)
	text := func(key string) string {
		v, ok := labels[key]
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("label %s is missing", key))
		}
		return v
	}
	number := func(key string, bits int) uint64 {
		v := text(key)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("label %s=%q is not a positive %d-bit integer", key, v, bits))
			return 0
		}
		return n
	}
	id.Owner = text(LabelLeaseOwner)
	id.DSeq = number(LabelLeaseDSeq, 64)
	id.GSeq = uint32(number(LabelLeaseGSeq, 32))
	id.OSeq = uint32(number(LabelLeaseOSeq, 32))
	id.Provider = text(LabelLeaseProvider)
	if err := errors.Join(errs...); err != nil {
		return LeaseID{}, fmt.Errorf("lease labels: %w", err)
	}
	return id, nil
}

// ParseLeaseID reads the owner/dseq/gseq/oseq/provider form that String writes.
func ParseLeaseID(s string) (LeaseID, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return LeaseID{}, fmt.Errorf("lease ID %q: want owner/dseq/gseq/oseq/provider, got %d part(s)", s, len(parts))
	}
	id, err := LeaseIDFromLabels(map[string]string{
		LabelLeaseOwner:    parts[0],
		LabelLeaseDSeq:     parts[1],
		LabelLeaseGSeq:     parts[2],
		LabelLeaseOSeq:     parts[3],
		LabelLeaseProvider: parts[4],
	})
	if err != nil {
		return LeaseID{}, fmt.Errorf("lease ID %q: %w", s, err)
	}
	return id, nil
}
