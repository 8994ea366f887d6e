package akashtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// What the provider's builders write, each from the named file of the
// provider (github.com/akash-network/provider, checked against v0.10.0 to
// v0.16.0-rc3; README's "Provider versions" says what differs).
const (
	// StorageClass is the persistent storage class fixtures use, and the
	// node label the inventory operator sets for it
	// (operator/inventory/node-discovery.go).
	StorageClass      = "beta2"
	LabelStorageClass = "akash.network/capabilities.storage.class." + StorageClass
	// LabelServiceTarget marks the IP operator's LoadBalancer Services
	// (cluster/kube/operators/clients/metallb/client.go).
	LabelServiceTarget = "akash.network/service-target"
	// AnnotationSharedIP carries the lease IP endpoint's sharing key.
	AnnotationSharedIP = "metallb.universe.tf/allow-shared-ip"
	// IngressClass is the class of the provider's Ingresses
	// (cluster/kube/client_ingress.go).
	IngressClass = "akash-ingress-class"
	// NetworkPolicyName is the lease namespace's policy
	// (cluster/kube/builder/netpol.go).
	NetworkPolicyName = "akash-deployment-restrictions"
	// PublicHostname is the provider's --cluster-public-hostname in the
	// fixtures, given to every container as AKASH_CLUSTER_PUBLIC_HOSTNAME.
	PublicHostname = "provider.example.com"
	// NodePortSuffix names a service's NodePort Service
	// (cluster/kube/builder/builder.go).
	NodePortSuffix = "-np"
)

// HTTPRoutesResource is the Gateway API's HTTPRoute, which the provider
// writes in gateway-api mode (cluster/kube/gateway/httproute.go).
var HTTPRoutesResource = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// The default HTTP options of an expose entry (the SDL's defaults), which
// the provider turns into the Ingress's annotations.
const (
	defaultMaxBodySize = 1048576
	defaultTimeoutMS   = 60000
	defaultNextTries   = 3
)

func (s Service) gpuVendor() string { return orDefault(s.GPUVendor, "nvidia") }
func (s Service) gpuModel() string  { return orDefault(s.GPUModel, "rtx4090") }

// gpuResource is the extended resource of the service's GPU vendor
// (cluster/kube/builder/workload.go).
func (s Service) gpuResource() corev1.ResourceName {
	if s.gpuVendor() == "amd" {
		return "amd.com/gpu"
	}
	return "nvidia.com/gpu"
}

// GPULabel is the node label the inventory operator sets for a GPU model
// (operator/inventory/node-discovery.go), its value the node's count: the
// provider's node affinity asks for it above 0.
func GPULabel(vendor, model string) string {
	return fmt.Sprintf("akash.network/capabilities.gpu.vendor.%s.model.%s", vendor, model)
}

func (b *Builder) createManifest(ctx context.Context, l Lease, exposes [][]Expose) (*unstructured.Unstructured, error) {
	var services []akash.ManifestService
	for i, s := range l.Services {
		ms := akash.ManifestService{
			Name:        s.Name,
			Image:       s.Image,
			Command:     s.Command,
			Args:        s.Args,
			Env:         s.Env,
			Credentials: s.Credentials,
			Count:       uint32(max(s.Count, 1)),
			Resources: akash.ServiceResources{
				ID:     uint32(i + 1),
				CPU:    akash.CPUResource{Units: uint32(quantity(s.CPU, "100m").MilliValue())},
				GPU:    akash.GPUResource{Units: uint32(s.GPU)},
				Memory: akash.SizeResource{Size: strconv.FormatInt(quantity(s.Memory, "128Mi").Value(), 10)},
				// Every SDL profile has its ephemeral "default" storage.
				Storage: []akash.SizeResource{{Name: "default", Size: strconv.FormatInt(quantity("", "1Gi").Value(), 10)}},
			},
		}
		if s.GPU > 0 {
			// The chain's attribute for a GPU model, and the scheduler
			// parameters without which the provider refuses a GPU service
			// (pkg/apis/akash.network/v2beta2/manifest.go, FromCRD).
			ms.Resources.GPU.Attributes = []akash.Attribute{{Key: "vendor/" + s.gpuVendor() + "/model/" + s.gpuModel(), Value: "true"}}
			ms.SchedulerParams = mustJSON(map[string]any{"resources": map[string]any{"gpu": map[string]any{"vendor": s.gpuVendor(), "model": s.gpuModel()}}})
		}
		if s.Persistent {
			ms.Resources.Storage = append(ms.Resources.Storage, akash.SizeResource{
				Name: "data", Size: strconv.FormatInt(quantity("", "1Gi").Value(), 10),
				Attributes: []akash.Attribute{{Key: "class", Value: StorageClass}, {Key: "persistent", Value: "true"}},
			})
			ms.Params = mustJSON(map[string]any{"storage": []any{map[string]any{"name": "data", "mount": "/data", "readOnly": false}}})
		}
		for seq, e := range exposes[i] {
			entry := map[string]any{
				"port": e.Port, "external_port": e.external(), "proto": e.proto(), "global": e.Global,
				"endpoint_sequence_number": seq,
				"http_options": map[string]any{
					"max_body_size": defaultMaxBodySize, "read_timeout": defaultTimeoutMS, "send_timeout": defaultTimeoutMS,
					"next_tries": defaultNextTries, "next_cases": []string{"error", "timeout"},
				},
			}
			if len(e.Hosts) > 0 {
				entry["hosts"] = e.Hosts
			}
			if e.IP != "" {
				entry["ip"] = e.IP
			}
			ms.Expose = append(ms.Expose, mustJSON(entry))
		}
		services = append(services, ms)
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

// createNetworkPolicy writes the lease namespace's policy: its pods talk to
// each other and out, nothing else talks to them (cluster/kube/builder/netpol.go,
// without the provider's exceptions for the ingress and DNS).
func (b *Builder) createNetworkPolicy(ctx context.Context, id akash.LeaseID, rv string) error {
	labels := map[string]string{akash.LabelAkash: "true", akash.LabelNamespace: id.Namespace(), LabelResourceVersion: rv}
	ns := id.Namespace()
	_, err := b.Kube.NetworkingV1().NetworkPolicies(ns).Create(ctx, &netv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: NetworkPolicyName, Namespace: ns, Labels: labels},
		Spec: netv1.NetworkPolicySpec{
			PolicyTypes: []netv1.PolicyType{netv1.PolicyTypeIngress, netv1.PolicyTypeEgress},
			Ingress: []netv1.NetworkPolicyIngressRule{{From: []netv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{akash.LabelNamespace: ns}},
			}}}},
			Egress: []netv1.NetworkPolicyEgressRule{{To: []netv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{akash.LabelNamespace: ns}},
			}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create network policy in %s: %w", ns, err)
	}
	return nil
}

// affinity is the provider's node affinity (cluster/kube/builder/workload.go):
// nodes the inventory operator marked akash.network=true, with the GPU
// model and the storage class the service asks for.
func (s Service) affinity() *corev1.Affinity {
	reqs := []corev1.NodeSelectorRequirement{{Key: akash.LabelAkash, Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}
	if s.GPU > 0 {
		reqs = append(reqs, corev1.NodeSelectorRequirement{Key: GPULabel(s.gpuVendor(), s.gpuModel()), Operator: corev1.NodeSelectorOpGt, Values: []string{"0"}})
	}
	if s.Persistent {
		reqs = append(reqs, corev1.NodeSelectorRequirement{Key: LabelStorageClass, Operator: corev1.NodeSelectorOpGt, Values: []string{"0"}})
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: reqs}},
		},
	}}
}

// container is the provider's container for a service
// (cluster/kube/builder/workload.go), commit levels 1.
func (s Service) container(id akash.LeaseID, exposes []Expose) corev1.Container {
	requests := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(orDefault(s.CPU, "100m")),
		corev1.ResourceMemory:           resource.MustParse(orDefault(s.Memory, "128Mi")),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
	}
	if s.GPU > 0 {
		requests[s.gpuResource()] = *resource.NewQuantity(s.GPU, resource.DecimalSI)
	}
	c := corev1.Container{
		Name:            s.Name,
		Image:           s.Image,
		Command:         s.Command,
		Args:            s.Args,
		Env:             envVars(s.Env),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Resources:       corev1.ResourceRequirements{Requests: requests, Limits: requests.DeepCopy()},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot: ptr.To(false), Privileged: ptr.To(false), AllowPrivilegeEscalation: ptr.To(false),
		},
	}
	set := map[string]bool{}
	for _, e := range c.Env {
		set[e.Name] = true
	}
	for _, kv := range [][2]string{
		{"AKASH_GROUP_SEQUENCE", strconv.FormatUint(uint64(id.GSeq), 10)},
		{"AKASH_DEPLOYMENT_SEQUENCE", strconv.FormatUint(id.DSeq, 10)},
		{"AKASH_ORDER_SEQUENCE", strconv.FormatUint(uint64(id.OSeq), 10)},
		{"AKASH_OWNER", id.Owner},
		{"AKASH_PROVIDER", id.Provider},
		{"AKASH_CLUSTER_PUBLIC_HOSTNAME", PublicHostname},
	} {
		if !set[kv[0]] {
			c.Env = append(c.Env, corev1.EnvVar{Name: kv[0], Value: kv[1]})
		}
	}
	for _, e := range exposes {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: e.Port})
	}
	if s.Persistent {
		c.VolumeMounts = []corev1.VolumeMount{{Name: s.Name + "-data", MountPath: "/data"}}
	}
	return c
}

func (b *Builder) createWorkload(ctx context.Context, l Lease, s Service, exposes []Expose, rv string) error {
	ns := l.ID.Namespace()
	selector := WorkloadLabels(l.ID, s.Name)
	labels := WorkloadLabels(l.ID, s.Name)
	labels[LabelResourceVersion] = rv

	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Affinity:                     s.affinity(),
			SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)},
			AutomountServiceAccountToken: ptr.To(false),
			NodeSelector:                 s.NodeSelector,
			Containers:                   []corev1.Container{s.container(l.ID, exposes)},
		},
	}
	if s.Credentials != nil {
		name, err := b.createCredentials(ctx, ns, s, labels)
		if err != nil {
			return err
		}
		template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: name}}
	}
	meta := metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: labels}
	replicas := ptr.To(max(s.Count, 1))
	if s.Persistent {
		claim := s.Name + "-data"
		if err := b.createVolumes(ctx, ns, s.Name, claim, *replicas); err != nil {
			return err
		}
		// cluster/kube/builder/statefulset.go: no serviceName, partition 0,
		// one claim template per persistent storage.
		_, err := b.Kube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas:             replicas,
				Selector:             &metav1.LabelSelector{MatchLabels: selector},
				Template:             template,
				RevisionHistoryLimit: ptr.To(int32(1)),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
						Partition:      ptr.To(int32(0)),
						MaxUnavailable: ptr.To(intstr.FromInt32(1)),
					},
				},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: claim},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
						StorageClassName: ptr.To(StorageClass),
						Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceStorage: resource.MustParse("1Gi"),
						}},
					},
				}},
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
	return b.createServices(ctx, ns, s.Name, exposes, labels, selector)
}

// createServices writes a service's Services (cluster/kube/builder/service.go):
// <svc> (ClusterIP) for its ports inside the lease and its HTTP ports, and
// <svc>-np (NodePort) for its other global ports, each port named
// <index of the expose entry>-<external port>.
func (b *Builder) createServices(ctx context.Context, ns, name string, exposes []Expose, labels, selector map[string]string) error {
	for _, nodePort := range []bool{false, true} {
		var ports []corev1.ServicePort
		seen := map[int32]bool{}
		for i, e := range exposes {
			include := (!nodePort && (!e.Global || e.ingress())) || (nodePort && e.Global && !e.ingress())
			if !include || seen[e.external()] {
				continue
			}
			seen[e.external()] = true
			ports = append(ports, corev1.ServicePort{
				Name:       fmt.Sprintf("%d-%d", i, e.external()),
				Port:       e.external(),
				TargetPort: intstr.FromInt32(e.Port),
				Protocol:   corev1.Protocol(e.proto()),
			})
		}
		if len(ports) == 0 {
			continue
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector, Ports: ports},
		}
		if nodePort {
			svc.Name += NodePortSuffix
			svc.Spec.Type = corev1.ServiceTypeNodePort
		}
		if _, err := b.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s/%s: %w", ns, svc.Name, err)
		}
	}
	return nil
}

// createCredentials writes the registry Secret the provider pulls a
// service's image with (cluster/kube/builder/service_credentials.go).
func (b *Builder) createCredentials(ctx context.Context, ns string, s Service, labels map[string]string) (string, error) {
	c := s.Credentials
	config, err := json.Marshal(map[string]any{"auths": map[string]any{c.Host: map[string]string{
		"username": c.Username, "password": c.Password, "email": c.Email,
		"auth": base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password)),
	}}})
	if err != nil {
		return "", err
	}
	name := "docker-creds-" + s.Name
	_, err = b.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create secret %s/%s: %w", ns, name, err)
	}
	return name, nil
}

// createVolumes gives each replica's claim a volume bound to it ahead, as
// a provisioner would: the simulated cluster has none.
func (b *Builder) createVolumes(ctx context.Context, ns, sts, claim string, replicas int32) error {
	if _, err := b.Kube.StorageV1().StorageClasses().Get(ctx, StorageClass, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if err := b.createStorageClass(ctx); err != nil {
			return err
		}
	}
	for i := range replicas {
		pvc := fmt.Sprintf("%s-%s-%d", claim, sts, i)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s", ns[:16], pvc)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              StorageClass,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: pvc},
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/akashtest/" + ns + "/" + pvc}},
			},
		}
		if _, err := b.Kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create persistent volume for %s/%s: %w", ns, pvc, err)
		}
	}
	return nil
}

func (b *Builder) createStorageClass(ctx context.Context) error {
	// Labelled as a provider's are: the inventory operator counts only the
	// StorageClasses labelled akash.network=true (provider
	// operator/inventory).
	_, err := b.Kube.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: StorageClass, Labels: map[string]string{akash.LabelAkash: "true"}},
		Provisioner: "rook-ceph.rbd.csi.ceph.com",
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", StorageClass, err)
	}
	return nil
}

func (b *Builder) createHostsAndIPs(ctx context.Context, l Lease) error {
	svc := l.Services[0].Name
	leaseLabels := l.ID.Labels()
	delete(leaseLabels, akash.LabelNamespace)
	for _, host := range l.Hostnames {
		// cluster/kube/client_hostname_connections.go: named by the host.
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
		if !l.NoWorkloads {
			if err := b.createRoute(ctx, l.ID, host, svc, leaseLabels); err != nil {
				return err
			}
		}
	}
	endpoint := l.ipEndpoint()
	key := IPSharingKey(l.ID, endpoint)
	for _, port := range l.LeasedIPs {
		// cluster/kube/cluster_ip_connections.go, DeclareIP.
		labels := toAnyMap(leaseLabels)
		labels["service-name"] = svc
		labels["external-port"] = strconv.Itoa(int(port))
		labels["proto"] = "TCP"
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": akash.GroupVersion.String(),
			"kind":       "ProviderLeasedIP",
			"metadata": map[string]any{
				"name":      LeasedIPName(l.ID, endpoint, "TCP", port),
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
		if !l.NoWorkloads {
			if err := b.createIPService(ctx, l.ID, svc, key, port); err != nil {
				return err
			}
		}
	}
	return nil
}

// createRoute connects a hostname to the service's port 80: an Ingress
// (cluster/kube/client_ingress.go) or, in gateway-api mode, an HTTPRoute
// (cluster/kube/gateway/httproute.go, nginx_gateway.go), named by the host
// in the lease namespace.
func (b *Builder) createRoute(ctx context.Context, id akash.LeaseID, host, svc string, leaseLabels map[string]string) error {
	ns := id.Namespace()
	if b.IngressMode == IngressModeGateway {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1",
			"kind":       "HTTPRoute",
			"metadata":   map[string]any{"name": host, "namespace": ns, "labels": toAnyMap(leaseLabels)},
			"spec": map[string]any{
				"parentRefs": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "akash-gateway", "name": "akash-gateway"}},
				"hostnames":  []any{host},
				"rules": []any{map[string]any{
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
					"backendRefs": []any{map[string]any{"name": svc, "port": int64(80)}},
				}},
			},
		}}
		if _, err := b.Dynamic.Resource(HTTPRoutesResource).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create httproute %s/%s: %w", ns, host, err)
		}
		return nil
	}
	const nginx = "nginx.ingress.kubernetes.io/"
	_, err := b.Kube.NetworkingV1().Ingresses(ns).Create(ctx, &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: host, Namespace: ns, Labels: leaseLabels, Annotations: map[string]string{
			nginx + "proxy-read-timeout": strconv.Itoa(defaultTimeoutMS / 1000), nginx + "proxy-send-timeout": strconv.Itoa(defaultTimeoutMS / 1000),
			nginx + "proxy-next-upstream-tries": strconv.Itoa(defaultNextTries), nginx + "proxy-body-size": strconv.Itoa(defaultMaxBodySize),
			nginx + "proxy-next-upstream-timeout": "0", nginx + "proxy-next-upstream": "error timeout",
		}},
		Spec: netv1.IngressSpec{
			IngressClassName: ptr.To(IngressClass),
			Rules: []netv1.IngressRule{{Host: host, IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{
				Paths: []netv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(netv1.PathTypePrefix), Backend: netv1.IngressBackend{
					Service: &netv1.IngressServiceBackend{Name: svc, Port: netv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create ingress %s/%s: %w", ns, host, err)
	}
	return nil
}

// createIPService writes the IP operator's LoadBalancer Service of a leased
// IP port (cluster/kube/operators/clients/metallb/client.go,
// CreateIPPassthrough): <svc>-ip-<port>-<proto>, sharing the endpoint's IP.
func (b *Builder) createIPService(ctx context.Context, id akash.LeaseID, svc, key string, port int32) error {
	ns := id.Namespace()
	labels := id.Labels()
	delete(labels, akash.LabelNamespace)
	labels[LabelServiceTarget] = "metal-lb"
	name := strings.ToLower(fmt.Sprintf("%s-ip-%d-TCP", svc, port))
	_, err := b.Kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: map[string]string{AnnotationSharedIP: key}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{akash.LabelAkash: "true", akash.LabelManifestService: svc},
			Ports:    []corev1.ServicePort{{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create service %s/%s: %w", ns, name, err)
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return raw
}
