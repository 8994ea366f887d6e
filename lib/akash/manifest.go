package akash

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// GroupVersion of the provider's custom resources.
var GroupVersion = schema.GroupVersion{Group: "akash.network", Version: "v2beta2"}

// Resources of the provider's custom resources.
var (
	ManifestsResource         = GroupVersion.WithResource("manifests")
	ProviderHostsResource     = GroupVersion.WithResource("providerhosts")
	ProviderLeasedIPsResource = GroupVersion.WithResource("providerleasedips")
)

// Manifest is a Manifest CR: what the tenant sent for one lease, as the
// provider stores it in the `lease` namespace under the lease namespace name.
type Manifest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ManifestSpec `json:"spec"`
}

// ManifestSpec is the Manifest's spec.
type ManifestSpec struct {
	LeaseID ManifestLeaseID `json:"lease_id"`
	Group   ManifestGroup   `json:"group"`
}

// ManifestLeaseID is the lease ID as the Manifest stores it (dseq a string).
type ManifestLeaseID struct {
	Owner    string `json:"owner"`
	DSeq     string `json:"dseq"`
	GSeq     uint32 `json:"gseq"`
	OSeq     uint32 `json:"oseq"`
	Provider string `json:"provider"`
}

// LeaseID converts to the model's LeaseID.
func (m ManifestLeaseID) LeaseID() (LeaseID, error) {
	dseq, err := strconv.ParseUint(m.DSeq, 10, 64)
	if err != nil {
		return LeaseID{}, fmt.Errorf("spec.lease_id.dseq %q is not an unsigned integer", m.DSeq)
	}
	id := LeaseID{Owner: m.Owner, DSeq: dseq, GSeq: m.GSeq, OSeq: m.OSeq, Provider: m.Provider}
	if err := id.Validate(); err != nil {
		return LeaseID{}, fmt.Errorf("spec.lease_id: %w", err)
	}
	return id, nil
}

// ManifestLeaseIDOf is the inverse of ManifestLeaseID.LeaseID.
func ManifestLeaseIDOf(id LeaseID) ManifestLeaseID {
	return ManifestLeaseID{Owner: id.Owner, DSeq: strconv.FormatUint(id.DSeq, 10), GSeq: id.GSeq, OSeq: id.OSeq, Provider: id.Provider}
}

// ManifestGroup is the deployment group the lease runs.
type ManifestGroup struct {
	Name     string            `json:"name"`
	Services []ManifestService `json:"services"`
}

// ManifestService is one service of the group. Only the fields the jobs read
// or the fixtures write are typed; the rest stay in the object untouched.
type ManifestService struct {
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	Command   []string          `json:"command,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       []string          `json:"env,omitempty"`
	Resources ServiceResources  `json:"resources"`
	Count     uint32            `json:"count,omitempty"`
	Expose    []json.RawMessage `json:"expose,omitempty"`
	// Params and SchedulerParams are kept as the provider wrote them
	// (storage mounts, the GPU's and runtime's scheduling).
	Params          json.RawMessage `json:"params,omitempty"`
	SchedulerParams json.RawMessage `json:"scheduler_params,omitempty"`
	// Credentials log the provider in to a private registry, in clear
	// (provider pkg/apis/akash.network/v2beta2/manifest.go): a tenant's
	// secret, never copied out of the Manifest.
	Credentials *ServiceCredentials `json:"credentials,omitempty"`
}

// ServiceCredentials are a service's private registry login.
type ServiceCredentials struct {
	Host     string `json:"host"`
	Email    string `json:"email,omitempty"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// ServiceResources are a service's resources per replica.
type ServiceResources struct {
	ID      uint32         `json:"id"`
	CPU     CPUResource    `json:"cpu"`
	GPU     GPUResource    `json:"gpu"`
	Memory  SizeResource   `json:"memory"`
	Storage []SizeResource `json:"storage,omitempty"`
}

// CPUResource is in millicores.
type CPUResource struct {
	Units      uint32      `json:"units"`
	Attributes []Attribute `json:"attributes,omitempty"`
}

// GPUResource is in whole GPUs.
type GPUResource struct {
	Units      uint32      `json:"units"`
	Attributes []Attribute `json:"attributes,omitempty"`
}

// SizeResource is a memory or storage size in bytes, a decimal string.
type SizeResource struct {
	Name       string      `json:"name,omitempty"`
	Size       string      `json:"size"`
	Attributes []Attribute `json:"attributes,omitempty"`
}

// Attribute is a key/value resource attribute.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ManifestFromUnstructured decodes a Manifest CR and checks that it names a
// lease; the error says which Manifest and what is wrong.
func ManifestFromUnstructured(u *unstructured.Unstructured) (*Manifest, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("manifest %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return decodeManifest(raw)
}

// ManifestList is what ListManifests read: the Manifests that parse, and an
// error for each one that does not (reported and skipped, never fatal).
type ManifestList struct {
	Manifests []*Manifest
	Invalid   []error
}

// EachManifest reads the Manifest CRs of namespace (normally "lease") a page
// at a time, JSON straight into Manifests, and calls fn with each that
// parses and names a lease, invalid with the error of each that does not
// (reported and skipped, never fatal). A job that keeps only what it needs
// of each Manifest stays small however many leases the provider has.
func EachManifest(ctx context.Context, c *kube.Clients, namespace string, opts metav1.ListOptions, fn func(*Manifest) error, invalid func(error)) error {
	path := "/apis/" + GroupVersion.Group + "/" + GroupVersion.Version + "/namespaces/" + namespace + "/" + ManifestsResource.Resource
	err := kube.EachRaw(ctx, c.REST, path, 0, opts, func(item json.RawMessage) error {
		m, err := decodeManifest(item)
		if err != nil {
			invalid(err)
			return nil
		}
		return fn(m)
	})
	if err != nil {
		return fmt.Errorf("list manifests in namespace %s: %w", namespace, err)
	}
	return nil
}

// decodeManifest decodes a Manifest CR and checks that it names a lease;
// the error says which Manifest and what is wrong.
func decodeManifest(raw []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		var meta struct {
			metav1.ObjectMeta `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &meta)
		return nil, fmt.Errorf("manifest %s/%s: %w", meta.Namespace, meta.Name, err)
	}
	if _, err := m.Spec.LeaseID.LeaseID(); err != nil {
		return nil, fmt.Errorf("manifest %s/%s: %w", m.Namespace, m.Name, err)
	}
	return &m, nil
}

// ListManifests reads every Manifest CR in namespace (normally "lease").
func ListManifests(ctx context.Context, c *kube.Clients, namespace string, opts metav1.ListOptions) (ManifestList, error) {
	var out ManifestList
	err := EachManifest(ctx, c, namespace, opts,
		func(m *Manifest) error { out.Manifests = append(out.Manifests, m); return nil },
		func(err error) { out.Invalid = append(out.Invalid, err) })
	return out, err
}
