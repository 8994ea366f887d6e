package akashtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// Credentials are a private registry login, as a tenant writes one.
	Credentials *akash.ServiceCredentials
	// CPU and Memory are per replica ("500m", "512Mi"); GPU in whole GPUs.
	CPU    string
	Memory string
	GPU    int64
	Count  int32
	// Persistent services run as StatefulSets, as the provider does for
	// persistent storage.
	Persistent bool
	// Port, if set, gets a ClusterIP Service named like the service.
	Port int32
	// NodeSelector pins the pods to nodes, as the provider's GPU and storage
	// class affinities do; tests use it to give each scenario its own nodes.
	NodeSelector map[string]string
}

// Lease is one lease's provider-side state.
type Lease struct {
	ID       akash.LeaseID
	Services []Service
	// Strategy overrides the provider's Deployment strategy (maxSurge 0,
	// maxUnavailable 1). Older providers left Kubernetes' default, which
	// surges a new pod before stopping an old one: the case that gets stuck.
	Strategy *appsv1.DeploymentStrategy
	// Hostnames become ProviderHosts, one per name, for the first service.
	Hostnames []string
	// LeasedIPs become ProviderLeasedIPs (external ports) for the first service.
	LeasedIPs []int32
	// NoWorkloads leaves out the Deployments, StatefulSets and Services:
	// the Manifest, namespace, hosts and IPs only (what the chain-side jobs
	// read), for benchmarks of many leases.
	NoWorkloads bool
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
}

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
// Manifest CR, the tenant namespace, a Deployment (or StatefulSet) and
// Service per service, and the lease's hosts and IPs.
func (b *Builder) Create(ctx context.Context, l Lease) error {
	ns := l.ID.Namespace()
	m, err := b.createManifest(ctx, l)
	if err != nil {
		return err
	}
	rv := m.GetResourceVersion()

	nsLabels := l.ID.Labels()
	nsLabels[LabelResourceVersion] = rv
	if _, err := b.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	for _, svc := range l.Services {
		if l.NoWorkloads {
			break
		}
		if err := b.createWorkload(ctx, l, svc, rv); err != nil {
			return err
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

func (b *Builder) createManifest(ctx context.Context, l Lease) (*unstructured.Unstructured, error) {
	var services []akash.ManifestService
	for _, s := range l.Services {
		services = append(services, akash.ManifestService{
			Name:        s.Name,
			Image:       s.Image,
			Command:     s.Command,
			Args:        s.Args,
			Env:         s.Env,
			Credentials: s.Credentials,
			Count:       uint32(max(s.Count, 1)),
			Resources: akash.ServiceResources{
				ID:     1,
				CPU:    akash.CPUResource{Units: uint32(quantity(s.CPU, "100m").MilliValue())},
				GPU:    akash.GPUResource{Units: uint32(s.GPU)},
				Memory: akash.SizeResource{Size: strconv.FormatInt(quantity(s.Memory, "128Mi").Value(), 10)},
			},
		})
	}
	m := akash.Manifest{
		TypeMeta: metav1.TypeMeta{APIVersion: akash.GroupVersion.String(), Kind: "Manifest"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      l.ID.Namespace(),
			Namespace: b.manifestNS(),
			Labels:    l.ID.Labels(),
		},
		Spec: akash.ManifestSpec{
			LeaseID: akash.ManifestLeaseIDOf(l.ID),
			Group:   akash.ManifestGroup{Name: "akash", Services: services},
		},
	}
	u, err := toUnstructured(m)
	if err != nil {
		return nil, err
	}
	out, err := b.Dynamic.Resource(akash.ManifestsResource).Namespace(b.manifestNS()).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create manifest for lease %s: %w", l.ID, err)
	}
	return out, nil
}

func (b *Builder) createWorkload(ctx context.Context, l Lease, s Service, rv string) error {
	ns := l.ID.Namespace()
	selector := WorkloadLabels(l.ID, s.Name)
	labels := WorkloadLabels(l.ID, s.Name)
	labels[LabelResourceVersion] = rv

	requests := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(orDefault(s.CPU, "100m")),
		corev1.ResourceMemory: resource.MustParse(orDefault(s.Memory, "128Mi")),
	}
	if s.GPU > 0 {
		requests["nvidia.com/gpu"] = *resource.NewQuantity(s.GPU, resource.DecimalSI)
	}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			NodeSelector:                 s.NodeSelector,
			Containers: []corev1.Container{{
				Name:            s.Name,
				Image:           s.Image,
				Command:         s.Command,
				Args:            s.Args,
				Env:             envVars(s.Env),
				ImagePullPolicy: corev1.PullIfNotPresent,
				Resources:       corev1.ResourceRequirements{Requests: requests, Limits: requests.DeepCopy()},
			}},
		},
	}
	meta := metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: labels}
	replicas := ptr.To(max(s.Count, 1))
	if s.Persistent {
		_, err := b.Kube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas:             replicas,
				Selector:             &metav1.LabelSelector{MatchLabels: selector},
				Template:             template,
				ServiceName:          s.Name,
				RevisionHistoryLimit: ptr.To(int32(1)),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
						Partition: ptr.To(int32(0)),
					},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create statefulset %s/%s: %w", ns, s.Name, err)
		}
	} else {
		strategy := ProviderStrategy()
		if l.Strategy != nil {
			strategy = l.Strategy
		}
		_, err := b.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas:             replicas,
				Selector:             &metav1.LabelSelector{MatchLabels: selector},
				Template:             template,
				Strategy:             *strategy,
				RevisionHistoryLimit: ptr.To(int32(10)),
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create deployment %s/%s: %w", ns, s.Name, err)
		}
	}
	if s.Port > 0 {
		_, err := b.Kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: meta,
			Spec: corev1.ServiceSpec{
				Selector: selector,
				Ports: []corev1.ServicePort{{
					Name:       fmt.Sprintf("0-%d", s.Port),
					Port:       s.Port,
					TargetPort: intstr.FromInt32(s.Port),
					Protocol:   corev1.ProtocolTCP,
				}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create service %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

func (b *Builder) createHostsAndIPs(ctx context.Context, l Lease) error {
	svc := l.Services[0].Name
	leaseLabels := l.ID.Labels()
	delete(leaseLabels, akash.LabelNamespace)
	for _, host := range l.Hostnames {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": akash.GroupVersion.String(),
			"kind":       "ProviderHost",
			"metadata": map[string]any{
				"name":        host,
				"namespace":   b.manifestNS(),
				"labels":      toAnyMap(leaseLabels),
				"annotations": map[string]any{"akash.network/lease.updated_at": time.Now().UTC().Format(time.RFC3339)},
			},
			"spec": map[string]any{
				"hostname": host, "owner": l.ID.Owner, "provider": l.ID.Provider,
				"dseq": int64(l.ID.DSeq), "gseq": int64(l.ID.GSeq), "oseq": int64(l.ID.OSeq),
				"service_name": svc, "external_port": int64(80),
			},
		}}
		if _, err := b.Dynamic.Resource(akash.ProviderHostsResource).Namespace(b.manifestNS()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create providerhost %s: %w", host, err)
		}
	}
	for _, port := range l.LeasedIPs {
		key := fmt.Sprintf("%s-ip-%s", l.ID.Owner, svc)
		labels := toAnyMap(leaseLabels)
		labels["service-name"] = svc
		labels["external-port"] = strconv.Itoa(int(port))
		labels["proto"] = "TCP"
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": akash.GroupVersion.String(),
			"kind":       "ProviderLeasedIP",
			"metadata": map[string]any{
				"name":      fmt.Sprintf("%s-tcp-%d", key, port),
				"namespace": b.manifestNS(),
				"labels":    labels,
			},
			"spec": map[string]any{
				"lease_id": map[string]any{
					"owner": l.ID.Owner, "dseq": strconv.FormatUint(l.ID.DSeq, 10),
					"gseq": int64(l.ID.GSeq), "oseq": int64(l.ID.OSeq), "provider": l.ID.Provider,
				},
				"service_name": svc, "port": int64(port), "external_port": int64(port),
				"protocol": "TCP", "sharing_key": key,
			},
		}}
		if _, err := b.Dynamic.Resource(akash.ProviderLeasedIPsResource).Namespace(b.manifestNS()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create providerleasedip for lease %s port %d: %w", l.ID, port, err)
		}
	}
	return nil
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
