package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// The GPU vendors the provider schedules (provider
// cluster/kube/builder/workload.go: ResourceGPUNvidia, ResourceGPUAMD):
// each with its device plugin's extended resource; the inventory
// operator's labels name the vendor (nvidia, amd).
var vendorResources = map[string]corev1.ResourceName{"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}

// vendors in the order findings name them.
var vendors = []string{"nvidia", "amd"}

// GPUResource is the NVIDIA device plugin's extended resource.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// node is what provider-doctor needs of a node.
type node struct {
	name, uid string
	// allocatable and labelled are per vendor: the device plugin's count,
	// and the inventory labels' (the sum of the model labels' values);
	// models are those labels' vendor/model.
	allocatable, labelled map[string]int64
	models                map[string][]string
	ready                 bool
	// notReady says since when and why the node is not Ready.
	notReady string
	cordoned bool
}

// gpus tells whether the node has or claims GPUs of any vendor.
func (n node) gpus() bool {
	for _, v := range vendors {
		if n.allocatable[v] > 0 || n.labelled[v] > 0 {
			return true
		}
	}
	return false
}

type plugin struct {
	node  string
	name  string
	ready bool
	// vendor is the plugin's GPUs (from its selector), "" when unknown.
	vendor string
}

type pendingPod struct {
	namespace, name, uid string
	gpus                 int64
	since                time.Time
	message              string
}

type state struct {
	nodes   []node
	plugins []plugin
	pending []pendingPod
}

func (s state) gpuNodes() int {
	n := 0
	for _, nd := range s.nodes {
		if nd.gpus() {
			n++
		}
	}
	return n
}

// observe reads nodes, the device plugins' pods (a LIST per selector) and
// Pending pods, whatever the cluster's size.
func observe(ctx context.Context, env *job.Env, pluginSelectors []string) (state, error) {
	var st state
	pageSize := env.Common.PageSize
	nodes, err := kube.ListAll[corev1.Node](ctx, pageSize, metav1.ListOptions{}, env.Clients.Kube.CoreV1().Nodes().List)
	if err != nil {
		return st, err
	}
	for _, n := range nodes {
		nd := node{name: n.Name, uid: string(n.UID), allocatable: map[string]int64{}, labelled: map[string]int64{}, models: map[string][]string{},
			cordoned: n.Spec.Unschedulable}
		for v, res := range vendorResources {
			if q, ok := n.Status.Allocatable[res]; ok {
				nd.allocatable[v] = q.Value()
			}
		}
		for _, g := range akash.NodeGPUs(n.Name, n.Labels) {
			nd.models[g.Vendor] = append(nd.models[g.Vendor], g.Vendor+"/"+g.Model)
			nd.labelled[g.Vendor] += g.Count
		}
		nd.notReady = "no Ready condition"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				nd.ready = c.Status == corev1.ConditionTrue
				nd.notReady = fmt.Sprintf("Ready %s since %s", c.Status, c.LastTransitionTime.UTC().Format(time.RFC3339))
				if c.Reason != "" {
					nd.notReady += " (" + c.Reason + ")"
				}
			}
		}
		st.nodes = append(st.nodes, nd)
	}
	for _, sel := range pluginSelectors {
		plugins, err := kube.ListAll[corev1.Pod](ctx, pageSize, metav1.ListOptions{LabelSelector: sel}, env.Clients.Kube.CoreV1().Pods("").List)
		if err != nil {
			return st, err
		}
		for _, p := range plugins {
			st.plugins = append(st.plugins, plugin{node: p.Spec.NodeName, name: p.Namespace + "/" + p.Name, ready: podReady(&p), vendor: selectorVendor(sel)})
		}
	}
	pending, err := kube.ListAll[corev1.Pod](ctx, pageSize,
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String()},
		env.Clients.Kube.CoreV1().Pods("").List)
	if err != nil {
		return st, err
	}
	for _, p := range pending {
		gpus := int64(0)
		for _, c := range p.Spec.Containers {
			for _, res := range vendorResources {
				if q, ok := c.Resources.Requests[res]; ok {
					gpus += q.Value()
				} else if q, ok := c.Resources.Limits[res]; ok {
					gpus += q.Value()
				}
			}
		}
		if gpus == 0 {
			continue
		}
		pp := pendingPod{namespace: p.Namespace, name: p.Name, uid: string(p.UID), gpus: gpus, since: p.CreationTimestamp.Time}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				pp.since, pp.message = c.LastTransitionTime.Time, strings.TrimSpace(c.Message)
			}
		}
		st.pending = append(st.pending, pp)
	}
	return st, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// The device plugins' pods by default: NVIDIA's standalone chart, the
// NVIDIA GPU Operator (the Akash docs install it), AMD's manifest and
// AMD's chart (ROCm/k8s-device-plugin k8s-ds-amdgpu-dp.yaml,
// helm/amd-gpu).
var defaultPluginSelectors = []string{
	"app.kubernetes.io/name=nvidia-device-plugin",
	"app=nvidia-device-plugin-daemonset",
	"name=amdgpu-dp-ds",
	"name=amd-gpu-dp-ds",
}

// selectorVendor is the GPUs a plugin found by sel serves, "" when its
// selector does not say.
func selectorVendor(sel string) string {
	switch {
	case strings.Contains(sel, "nvidia"):
		return "nvidia"
	case strings.Contains(sel, "amd"):
		return "amd"
	}
	return ""
}

// providerState is what the chain says of the provider, and the cluster's
// StorageClasses, for the provider checks.
type providerState struct {
	address    string
	info       chain.Provider
	audits     []chain.AuditedAttributes
	certs      []chain.Certificate
	storage    []storageClass
	models     map[string][]string // vendor/model present on the nodes, with the nodes
	endpoint   *x509.Certificate   // what the provider's host URI serves
	endpointOK string              // why it could not be read, when it could not
}

type storageClass struct {
	name, uid string
	labelled  bool
}

// observeProvider reads the provider's registration, its audits and its
// valid certificates from the chain, the StorageClasses, and the
// certificate its host URI serves. A chain answer that fails fails the
// checks (an error): none is guessed.
func observeProvider(ctx context.Context, env *job.Env, c *chain.Client, address string, st state, dial bool) (*providerState, error) {
	ps := &providerState{address: address, models: map[string][]string{}}
	var err error
	if ps.info, err = c.ProviderInfo(ctx, address); err != nil {
		return nil, err
	}
	if ps.audits, err = c.Audits(ctx, address); err != nil {
		return nil, err
	}
	if ps.certs, err = c.Certificates(ctx, address, "valid"); err != nil {
		return nil, err
	}
	classes, err := env.Clients.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the StorageClasses: %w", err)
	}
	for _, sc := range classes.Items {
		// provider operator/inventory: only the classes labelled
		// akash.network=true are counted.
		ps.storage = append(ps.storage, storageClass{name: sc.Name, uid: string(sc.UID), labelled: sc.Labels["akash.network"] == "true"})
	}
	for _, n := range st.nodes {
		for _, ms := range n.models {
			for _, m := range ms {
				if !slices.Contains(ps.models[m], n.name) {
					ps.models[m] = append(ps.models[m], n.name)
				}
			}
		}
	}
	if dial {
		ps.endpoint, ps.endpointOK = servedCertificate(ctx, ps.info.HostURI)
	}
	return ps, nil
}

// servedCertificate is the certificate the provider's host URI serves
// (its gateway, :8443), read without trusting it: the chain's copy is
// what it is compared with.
func servedCertificate(ctx context.Context, hostURI string) (*x509.Certificate, string) {
	u, err := url.Parse(hostURI)
	if err != nil || u.Host == "" {
		return nil, fmt.Sprintf("its host URI %q is not a URL", hostURI)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "8443")
	}
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // #nosec G402 -- compared with the chain's copy below, not trusted
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, fmt.Sprintf("%s does not answer TLS: %v", host, err)
	}
	defer conn.Close()
	peer := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return nil, host + " served no certificate"
	}
	return peer[0], ""
}
