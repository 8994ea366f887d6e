package akashtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/cosmos/cosmos-sdk/types/bech32"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// LabelResourceVersion is the provider's label for the Manifest version a
// workload was built from.
const LabelResourceVersion = "akash.network/manifest.resource.version"

// ProviderAddress is the provider every fixture lease belongs to.
const ProviderAddress = "akash174yssdm075y6jm8679dkmexec8jaxgt7pdsml5"

// LeaseID returns a distinct lease of ProviderAddress for n (n >= 1).
func LeaseID(n int) akash.LeaseID {
	return akash.LeaseID{
		Owner:    Owner(n % 7),
		DSeq:     uint64(1_000_000 + n),
		GSeq:     1,
		OSeq:     1,
		Provider: ProviderAddress,
	}
}

// Owner is tenant n's account address: valid bech32 (the official CLI
// refuses anything else), the same for the same n.
func Owner(n int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("tenant-%d", n)))
	addr, err := bech32.ConvertAndEncode("akash", sum[:20])
	if err != nil {
		panic(err) // 20 bytes and a fixed prefix always encode
	}
	return addr
}

// Service is one Manifest service and the workload the provider runs for it.
type Service struct {
	Name    string
	Image   string
	Command []string
	Args    []string
	Env     []string
	// Credentials are a private registry login, as a tenant writes one: the
	// provider keeps them in the Manifest and in the Secret
	// docker-creds-<service> it pulls the image with.
	Credentials *akash.ServiceCredentials
	// CPU and Memory are per replica ("500m", "512Mi"); GPU in whole GPUs,
	// of GPUVendor ("nvidia" if empty, or "amd") and GPUModel ("rtx4090" if
	// empty), asked for in scheduler_params as the provider requires.
	CPU       string
	Memory    string
	GPU       int64
	GPUVendor string
	GPUModel  string
	Count     int32
	// Persistent services run as StatefulSets with a volume claim template
	// <service>-data of storage class beta2, as the provider does for
	// persistent storage; the fixture binds each claim to a volume it makes.
	Persistent bool
	// Port, if set, is an HTTP port exposed globally as 80: the ClusterIP
	// Service <service> and, with the lease's Hostnames, its Ingress.
	Port int32
	// Expose lists further ports as the SDL's expose section gives them.
	Expose []Expose
	// NodeSelector pins the pods to nodes, on top of the provider's node
	// affinity; tests use it to give each scenario its own nodes.
	NodeSelector map[string]string
}

// Expose is one port of a service, as the Manifest's expose entry holds it.
type Expose struct {
	// Port is the container's port; ExternalPort the "as" port (Port if 0).
	Port         int32
	ExternalPort int32
	UDP          bool
	// Global is "to: global": reachable from outside the lease.
	Global bool
	// Hosts are the accepted hostnames of an HTTP port.
	Hosts []string
	// IP names the lease's IP endpoint the port is offered on.
	IP string
}

func (e Expose) external() int32 {
	if e.ExternalPort != 0 {
		return e.ExternalPort
	}
	return e.Port
}

func (e Expose) proto() string {
	if e.UDP {
		return "UDP"
	}
	return "TCP"
}

// ingress is the provider's rule for a port it serves through the ingress
// (go/manifest/v2beta3 ServiceExpose.IsIngress): TCP, global, as 80.
func (e Expose) ingress() bool {
	return !e.UDP && e.Global && e.external() == 80
}

// Lease is one lease's provider-side state.
type Lease struct {
	ID       akash.LeaseID
	Services []Service
	// Strategy overrides the provider's Deployment strategy (maxSurge 0,
	// maxUnavailable 1). Older providers left Kubernetes' default, which
	// surges a new pod before stopping an old one: the case that gets stuck.
	Strategy *appsv1.DeploymentStrategy
	// Hostnames are accepted by the first service's HTTP port (80 if it has
	// none): a ProviderHost each, and an Ingress (or an HTTPRoute with the
	// builder's IngressMode gateway-api) in the lease namespace.
	Hostnames []string
	// LeasedIPs are external TCP ports of the first service on the lease's
	// IP endpoint IPEndpoint (ip<dseq> if empty): a ProviderLeasedIP each,
	// and the IP operator's LoadBalancer Service. An endpoint is the
	// owner's, shared by its leases that name it: the provider declares it
	// once (cluster/manager.go), so distinct leases need distinct names.
	LeasedIPs  []int32
	IPEndpoint string
	// NoWorkloads leaves out the Deployments, StatefulSets and Services:
	// the Manifest, namespace, hosts and IPs only (what the chain-side jobs
	// read), for benchmarks of many leases.
	NoWorkloads bool
}

// exposes is every expose entry of the lease's services, the lease's
// hostnames and leased IPs added to its first service.
func (l Lease) exposes() [][]Expose {
	out := make([][]Expose, len(l.Services))
	for i, s := range l.Services {
		if s.Port > 0 {
			out[i] = append(out[i], Expose{Port: s.Port, ExternalPort: 80, Global: true})
		}
		out[i] = append(out[i], s.Expose...)
	}
	if len(l.Services) == 0 {
		return out
	}
	if len(l.Hostnames) > 0 {
		found := false
		for j := range out[0] {
			if out[0][j].ingress() {
				out[0][j].Hosts = append(out[0][j].Hosts, l.Hostnames...)
				found = true
				break
			}
		}
		if !found {
			out[0] = append(out[0], Expose{Port: 80, ExternalPort: 80, Global: true, Hosts: l.Hostnames})
		}
	}
	for _, port := range l.LeasedIPs {
		out[0] = append(out[0], Expose{Port: port, ExternalPort: port, Global: true, IP: l.ipEndpoint()})
	}
	return out
}

func (l Lease) ipEndpoint() string {
	if l.IPEndpoint != "" {
		return l.IPEndpoint
	}
	return fmt.Sprintf("ip%d", l.ID.DSeq)
}

// IPSharingKey is the key the provider gives a lease's IP endpoint
// (provider cluster/util/ip_sharing_key.go; fixture endpoint names are
// always of the plain form, never hashed).
func IPSharingKey(id akash.LeaseID, endpoint string) string {
	return fmt.Sprintf("%s-ip-%s", id.Owner, endpoint)
}

// LeasedIPName is the name of a ProviderLeasedIP (provider
// cluster/kube/cluster_ip_connections.go, DeclareIP).
func LeasedIPName(id akash.LeaseID, endpoint, proto string, externalPort int32) string {
	return strings.ToLower(fmt.Sprintf("%s-%s-%d", IPSharingKey(id, endpoint), proto, externalPort))
}

// SurgeStrategy is Kubernetes' default rolling update (25% surge, rounded up
// to one pod): the strategy under which an update on a full node gets stuck.
func SurgeStrategy() *appsv1.DeploymentStrategy {
	return &appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge:       ptr.To(intstr.FromString("25%")),
			MaxUnavailable: ptr.To(intstr.FromString("25%")),
		},
	}
}

// ProviderStrategy is what the current provider sets on Deployments.
func ProviderStrategy() *appsv1.DeploymentStrategy {
	return &appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge:       ptr.To(intstr.FromInt32(0)),
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
		},
	}
}

// Builder creates provider-shaped state.
type Builder struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// ManifestNamespace is the provider's --k8s-manifest-ns, where the
	// Manifests, ProviderHosts and ProviderLeasedIPs go (lease if empty).
	ManifestNamespace string
	// IngressMode is the provider's --ingress-mode: "ingress" (if empty)
	// makes an Ingress per hostname, "gateway-api" (provider 0.12 and
	// later) an HTTPRoute of the Gateway akash-gateway/akash-gateway.
	IngressMode string
}

// The provider's --ingress-mode values (provider cluster/kube/builder/settings.go).
const (
	IngressModeIngress = "ingress"
	IngressModeGateway = "gateway-api"
)

// manifestNS is where the provider keeps its CRs.
func (b *Builder) manifestNS() string {
	if b.ManifestNamespace != "" {
		return b.ManifestNamespace
	}
	return akash.LeaseNamespace
}

// EnsureProviderNamespaces creates the `lease` and `akash-services`
// namespaces the provider's install has.
func (b *Builder) EnsureProviderNamespaces(ctx context.Context) error {
	for _, name := range []string{b.manifestNS(), "akash-services"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{akash.LabelAkash: "true"}}}
		if _, err := b.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// Create writes a lease as the provider does when it deploys a manifest: the
// Manifest CR, the tenant namespace with its network policy, per service a
// Deployment (or StatefulSet), its Services and registry Secret, and the
// lease's hosts (ProviderHosts and Ingresses or HTTPRoutes) and IPs
// (ProviderLeasedIPs and the IP operator's LoadBalancer Services).
func (b *Builder) Create(ctx context.Context, l Lease) error {
	ns := l.ID.Namespace()
	exposes := l.exposes()
	m, err := b.createManifest(ctx, l, exposes)
	if err != nil {
		return err
	}
	rv := m.GetResourceVersion()

	// provider cluster/kube/builder/namespace.go: the builder's labels and
	// the lease's.
	nsLabels := l.ID.Labels()
	nsLabels[LabelResourceVersion] = rv
	if _, err := b.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if !l.NoWorkloads {
		if err := b.createNetworkPolicy(ctx, l.ID, rv); err != nil {
			return err
		}
		for i, svc := range l.Services {
			if err := b.createWorkload(ctx, l, svc, exposes[i], rv); err != nil {
				return err
			}
		}
	}
	if len(l.Services) > 0 {
		if err := b.createHostsAndIPs(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// CreateAll creates the leases lease(i) for i in [from, to), 16 at a
// time: seeding many leases for a benchmark.
func (b *Builder) CreateAll(ctx context.Context, from, to int, lease func(i int) Lease) error {
	work := make(chan int)
	errs := make(chan error, to-from)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := b.Create(ctx, lease(i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs // the first error, if any
}

// WorkloadLabels are the labels the provider puts on a service's workload,
// pod template and Service.
func WorkloadLabels(id akash.LeaseID, service string) map[string]string {
	return map[string]string{
		akash.LabelAkash:           "true",
		akash.LabelNamespace:       id.Namespace(),
		akash.LabelManifestService: service,
	}
}

// SetImage changes a service's image as the provider does on a manifest
// update, starting a rollout.
func (b *Builder) SetImage(ctx context.Context, id akash.LeaseID, service, image string) error {
	ns := id.Namespace()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, service, image)
	_, err := b.Kube.AppsV1().Deployments(ns).Patch(ctx, service, "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("set image of deployment %s/%s: %w", ns, service, err)
	}
	return nil
}

func envVars(env []string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

func quantity(v, d string) *resource.Quantity {
	q := resource.MustParse(orDefault(v, d))
	return &q
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func toUnstructured(v any) (*unstructured.Unstructured, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return u, nil
}
