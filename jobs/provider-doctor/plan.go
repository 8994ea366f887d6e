package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// The runbook's steps, one line each, named in every finding.
const (
	stepDriver = "on the node: nvidia-smi; if it fails, look for a driver/kernel module mismatch in dmesg " +
		"(NVRM: API mismatch) and reinstall the driver for the running kernel, then reboot"
	stepFabric    = "for SXM (NVLink) GPUs: systemctl status nvidia-fabricmanager; its version must equal the driver's"
	stepAMDDriver = "on the node: amd-smi list (or rocm-smi); if it fails, dmesg | grep -i amdgpu, and reinstall amdgpu-dkms for the running kernel, then reboot"
	stepPlugin    = "kubectl get pods -A -l %s -o wide; check the plugin's logs and that its version supports the driver"
	stepInventory = "check the akash inventory operator's pods (akash-services) and its logs for this node, and that its config does not exclude the node; " +
		"the node's GPUs are not offered until it labels them"
	stepXid    = "a GPU fell off the bus: nvidia-smi -q; dmesg | grep -i xid; reseat or replace it, or reboot"
	stepAMDBus = "a GPU fell off the bus: amd-smi list; dmesg | grep -i amdgpu; reseat or replace it, or reboot"
)

// steps are the runbook's steps for a vendor's GPUs.
func steps(vendor, plugin string) (driver, bus string) {
	if vendor == "amd" {
		return stepAMDDriver + "; " + plugin, stepAMDBus
	}
	return stepDriver + "; " + stepFabric + "; " + plugin, stepXid
}

// plan turns the observed state into findings. Pure: no I/O.
func plan(st state, now time.Time, minPending time.Duration, pluginSelectors []string) []actuator.Action {
	var sels []string
	for _, s := range pluginSelectors {
		sels = append(sels, "'"+s+"'")
	}
	plug := fmt.Sprintf(stepPlugin, strings.Join(sels, " (or -l) "))
	var out []actuator.Action
	pluginsOn := map[string][]plugin{}
	for _, p := range st.plugins {
		pluginsOn[p.node] = append(pluginsOn[p.node], p)
	}
	for _, n := range st.nodes {
		ref := actuator.Ref{APIVersion: "v1", Kind: "Node", Name: n.name, UID: n.uid}
		find := func(verb, reason, msg string) {
			out = append(out, actuator.Action{Verb: verb, Target: ref, Reason: reason, Message: msg})
		}
		if !n.gpus() {
			continue
		}
		// The inventory operator takes every capabilities label off a node
		// that is NotReady, cordoned or excluded (provider
		// operator/inventory/node-discovery.go): its GPUs are not offered,
		// rightly. Said as what it is, never as a labelling fault.
		if !n.ready || n.cordoned {
			var why []string
			if !n.ready {
				why = append(why, "not Ready ("+n.notReady+")")
			}
			if n.cordoned {
				why = append(why, "cordoned")
			}
			find("gpu-node-unavailable", "GPUNodeUnavailable", fmt.Sprintf(
				"GPU node %s is %s: the inventory operator offers none of its GPUs until it is Ready and schedulable again (its labels come back then); nothing else is checked on it",
				n.name, strings.Join(why, " and ")))
			continue
		}
		for _, v := range vendors {
			alloc, labelled := n.allocatable[v], n.labelled[v]
			res := vendorResources[v]
			models := strings.Join(n.models[v], ", ")
			driver, bus := steps(v, plug)
			switch {
			case labelled > 0 && alloc == 0:
				find("gpu-not-allocatable", "GPUNotAllocatable", fmt.Sprintf(
					"node %s is labelled with %d GPUs (%s) but has no allocatable %s: the device plugin does not report them. Try: %s",
					n.name, labelled, models, res, driver))
			case alloc > 0 && labelled == 0:
				find("gpu-not-labelled", "GPUNotLabelled", fmt.Sprintf(
					"node %s has %d allocatable %s but no akash.network/capabilities.gpu.vendor.%s labels: tenants cannot lease them. Try: %s",
					n.name, alloc, res, v, stepInventory))
			case labelled > alloc:
				find("gpu-count-mismatch", "GPUCountMismatch", fmt.Sprintf(
					"node %s is labelled with %d GPUs (%s) but only %d are allocatable. Try: %s",
					n.name, labelled, models, alloc, bus))
			case alloc > labelled:
				find("gpu-count-mismatch", "GPUCountMismatch", fmt.Sprintf(
					"node %s has %d allocatable %s but its inventory labels count %d (%s): the provider offers only those. Try: %s",
					n.name, alloc, res, labelled, models, stepInventory))
			}
			if alloc == 0 && labelled == 0 {
				continue
			}
			ready := false
			var seen []plugin
			for _, p := range pluginsOn[n.name] {
				if p.vendor == v || p.vendor == "" {
					seen = append(seen, p)
					ready = ready || p.ready
				}
			}
			if !ready {
				what := "no " + v + " device plugin pod"
				if len(seen) > 0 {
					what = fmt.Sprintf("device plugin pod %s is not ready", seen[0].name)
				}
				find("gpu-device-plugin-missing", "GPUDevicePluginNotReady", fmt.Sprintf(
					"GPU node %s has %s: new GPU pods cannot start there and its GPUs may vanish from allocatable. Try: %s",
					n.name, what, plug))
			}
		}
	}
	for _, p := range st.pending {
		age := now.Sub(p.since)
		if age < minPending {
			continue
		}
		msg := p.message
		if msg == "" {
			msg = "not scheduled yet"
		}
		out = append(out, actuator.Action{
			Verb:   "gpu-pod-pending",
			Target: actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: p.namespace, Name: p.name, UID: p.uid},
			Reason: "GPUPodPending",
			Message: fmt.Sprintf("pod %s/%s requesting %d GPUs has been Pending for %s: %s. If nodes have the GPUs free, the "+
				"findings above on those nodes say why the scheduler cannot use them", p.namespace, p.name, p.gpus, age.Round(time.Second), msg),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target.String() < out[j].Target.String() })
	return out
}

// The provider checks' findings, by reason: every one is a metric
// (akash_janitor_doctor_findings{check}), zero when not found.
var providerChecks = []string{"StorageClassMissing", "StorageClassNotLabelled", "StorageClassNotAdvertised",
	"GPUAdvertisedNotPresent", "GPUNotAdvertised", "AttributeMissing", "AuditNoLongerMatches",
	"CertificateNotOnChain", "CertificateExpiring", "CertificateNotServed", "ProviderEndpointUnreachable"}

// requirement is an attribute the provider must advertise, with the value
// it must have ("" for any), or the least number it must be (min > 0).
type requirement struct {
	key, value string
	min        float64
	// pattern, when set, is what the whole value must match.
	pattern *regexp.Regexp
}

// auditChecklist is the attributes the Akash provider audit requires of
// every provider, with the values it allows (the Akash docs' Provider
// Audit, "Always required"; the values of the options from the Console's
// config/provider-attributes.json: the UN geoscheme regions, utc-12 to
// utc+14, the location types, the CPU architectures), in
// --required-attributes' form (no rule holds a comma, the list's
// separator).
var auditChecklist = []string{
	"host=akash", "tier=community", "organization", "email~[^@ ]+@[^@ ]+", "discord-username", "website", "status-page",
	"location-region~na-ca-west|na-ca-central|na-ca-prairie|na-ca-atlantic|na-ca-north|na-us-west|na-us-southwest|na-us-midwest|na-us-southeast|na-us-northeast|central-america|caribbean|sa-north|sa-west|sa-south|sa-brazil|eu-central|eu-east|eu-north|eu-southeast|eu-south|eu-southwest|eu-west|af-east|af-middle|af-north|af-south|af-west|as-central|as-east|as-southeast|as-south|as-west|oc-aus|oc-nz|oc-mel|oc-mic|oc-pol",
	"country~[A-Z][A-Z]", "city~[A-Za-z][A-Za-z][A-Za-z]", "timezone~utc[+-]([0-9]|1[0-4])",
	"location-type~datacenter|colo|home|office|server-room|mix", "hosting-provider", "capabilities/cpu~intel|amd|arm",
	"capabilities/cpu/arch~x86|x86-64|arm|arm-64",
	"capabilities/memory", "network-provider", "network-speed-up>=500", "network-speed-down>=500", "feat-shm=true",
	"capabilities/storage/2/class=ram", "capabilities/storage/2/persistent=false", "capabilities/ip-lease~true|false",
	"feat-endpoint-ip~true|false", "feat-endpoint-custom-domain~true|false", "feat-persistent-storage~true|false",
}

// parseRequirement reads one rule: key (any value), key=value, key>=N or
// key~RE (the whole value matches RE).
func parseRequirement(rule string) (requirement, error) {
	rule = strings.TrimSpace(rule)
	if k, n, ok := strings.Cut(rule, ">="); ok {
		min, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil || min <= 0 || strings.TrimSpace(k) == "" {
			return requirement{}, fmt.Errorf("%q: want key>=N with N a positive number", rule)
		}
		return requirement{key: strings.TrimSpace(k), min: min}, nil
	}
	if k, re, ok := strings.Cut(rule, "~"); ok {
		p, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil || strings.TrimSpace(k) == "" {
			return requirement{}, fmt.Errorf("%q: want key~RE with RE a regular expression (%v)", rule, err)
		}
		return requirement{key: strings.TrimSpace(k), pattern: p}, nil
	}
	k, v, _ := strings.Cut(rule, "=")
	if strings.TrimSpace(k) == "" {
		return requirement{}, fmt.Errorf("%q has no key", rule)
	}
	return requirement{key: strings.TrimSpace(k), value: strings.TrimSpace(v)}, nil
}

// planProvider checks what the chain says of the provider against the
// cluster: the storage classes it advertises (capabilities/storage/<n>/class)
// against the StorageClasses the inventory operator counts (labelled
// akash.network=true: provider operator/inventory), the GPU models it
// advertises (capabilities/gpu/vendor/<v>/model/<m>) against the nodes'
// inventory labels, the attributes required of every provider, whether
// its attributes still match an auditor's signed set (an attribute
// changed after the audit drops it: tenants filtering on signedBy stop
// seeing the provider), and its certificate on chain against the one its
// host URI serves. Findings about the provider as a whole are recorded on
// its pod. Pure: no I/O.
func planProvider(ps *providerState, now time.Time, required []requirement, warn time.Duration, pod actuator.Ref) []actuator.Action {
	var out []actuator.Action
	find := func(target actuator.Ref, verb, reason, msg string) {
		out = append(out, actuator.Action{Verb: verb, Target: target, Reason: reason, Message: msg})
	}
	attrs := map[string]string{}
	for _, a := range ps.info.Attributes {
		attrs[a.Key] = a.Value
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	// Storage.
	// Class ram is shared memory, a memory-backed emptyDir the provider
	// makes itself (provider cluster/kube/builder/workload.go), and a class
	// advertised persistent: false is no StorageClass either.
	advertised := map[string]string{} // class: its attribute
	for _, k := range keys {
		parts := strings.Split(k, "/")
		if len(parts) == 4 && parts[0] == "capabilities" && parts[1] == "storage" && parts[3] == "class" &&
			attrs[k] != "ram" && attrs["capabilities/storage/"+parts[2]+"/persistent"] != "false" {
			advertised[attrs[k]] = k
		}
	}
	classes := map[string]storageClass{}
	for _, sc := range ps.storage {
		classes[sc.name] = sc
	}
	for _, name := range sortedKeys(advertised) {
		sc, ok := classes[name]
		switch {
		case !ok:
			find(pod, "storage-class-missing", "StorageClassMissing", fmt.Sprintf(
				"the provider advertises storage class %s (attribute %s) and the cluster has no StorageClass %s: every lease asking for it fails. Create it, or take the attribute out of the provider's attributes (provider.yaml) and upgrade the provider",
				name, advertised[name], name))
		case !sc.labelled:
			find(actuator.Ref{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass", Name: name, UID: sc.uid}, "storage-class-not-labelled", "StorageClassNotLabelled", fmt.Sprintf(
				"StorageClass %s is advertised (attribute %s) but not labelled akash.network=true, so the inventory operator counts none of it and the provider offers no persistent storage of that class: kubectl label storageclass %s akash.network=true",
				name, advertised[name], name))
		}
	}
	for _, sc := range ps.storage {
		if _, ok := advertised[sc.name]; sc.labelled && !ok {
			find(actuator.Ref{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass", Name: sc.name, UID: sc.uid}, "storage-class-not-advertised", "StorageClassNotAdvertised", fmt.Sprintf(
				"StorageClass %s is labelled akash.network=true but the provider's attributes advertise no capabilities/storage/<n>/class: %s: tenants asking for it never see this provider. Add the attributes capabilities/storage/<n>/class: %s and capabilities/storage/<n>/persistent: true to provider.yaml and upgrade the provider",
				sc.name, sc.name, sc.name))
		}
	}

	// GPUs.
	gpus := map[string]string{} // vendor/model: its attribute
	for _, k := range keys {
		parts := strings.Split(k, "/")
		if len(parts) == 6 && parts[0] == "capabilities" && parts[1] == "gpu" && parts[2] == "vendor" && parts[4] == "model" && attrs[k] == "true" {
			gpus[parts[3]+"/"+parts[5]] = k
		}
	}
	for _, m := range sortedKeys(gpus) {
		if len(ps.models[m]) == 0 {
			find(pod, "gpu-advertised-absent", "GPUAdvertisedNotPresent", fmt.Sprintf(
				"the provider advertises GPU %s (attribute %s) and no node's inventory labels carry it: orders for it are bid on and fail, or the GPUs are on a node the inventory operator does not count (see this run's GPUNodeUnavailable and GPUNotLabelled findings). Fix the node, or take the attribute out",
				m, gpus[m]))
		}
	}
	for _, m := range sortedKeys(ps.models) {
		if _, ok := gpus[m]; !ok {
			nodes := ps.models[m]
			vm := strings.SplitN(m, "/", 2)
			find(actuator.Ref{APIVersion: "v1", Kind: "Node", Name: nodes[0]}, "gpu-not-advertised", "GPUNotAdvertised", fmt.Sprintf(
				"nodes %s have GPU %s and the provider's attributes do not advertise it: tenants filtering on the model never see it. Add the attribute capabilities/gpu/vendor/%s/model/%s: true to provider.yaml and upgrade the provider",
				strings.Join(nodes, ", "), m, vm[0], vm[1]))
		}
	}

	// Required attributes.
	for _, r := range required {
		v, ok := attrs[r.key]
		switch {
		case !ok && r.key == "location-region" && attrs["region"] != "":
			find(pod, "attribute-missing", "AttributeMissing",
				"the provider's attributes have the legacy region and no location-region (a UN geoscheme value), which the Akash provider audit asks: add it to provider.yaml and upgrade the provider")
		case !ok:
			find(pod, "attribute-missing", "AttributeMissing", fmt.Sprintf(
				"the provider's attributes have no %s, which the Akash provider audit asks of every provider: add it to provider.yaml and upgrade the provider",
				r.key))
		case r.value != "" && v != r.value:
			find(pod, "attribute-missing", "AttributeMissing", fmt.Sprintf(
				"the provider's attribute %s is %q, not %q as the Akash docs' provider attributes ask: fix it in provider.yaml and upgrade the provider",
				r.key, v, r.value))
		case r.min > 0:
			if n, err := strconv.ParseFloat(v, 64); err != nil || n < r.min {
				find(pod, "attribute-missing", "AttributeMissing", fmt.Sprintf(
					"the provider's attribute %s is %q: the Akash provider audit asks a number of at least %v (Mbps for the network speeds, as sustained): fix it in provider.yaml and upgrade the provider",
					r.key, v, r.min))
			}
		case r.pattern != nil && !r.pattern.MatchString(v):
			find(pod, "attribute-missing", "AttributeMissing", fmt.Sprintf(
				"the provider's attribute %s is %q, which is not of the form the Akash provider audit asks (%s): fix it in provider.yaml and upgrade the provider",
				r.key, v, strings.TrimSuffix(strings.TrimPrefix(r.pattern.String(), "^(?:"), ")$")))
		}
	}

	// What the audit asks given what the provider offers (the Akash docs'
	// Provider Audit): a storage class with persistent storage, the GPU
	// and CUDA keys with GPUs, and neither without.
	if attrs["feat-persistent-storage"] == "true" {
		if c := attrs["capabilities/storage/1/class"]; c != "beta1" && c != "beta2" && c != "beta3" || attrs["capabilities/storage/1/persistent"] != "true" {
			find(pod, "attribute-missing", "AttributeMissing",
				"the provider says feat-persistent-storage: true, and has no capabilities/storage/1/class of beta1, beta2 or beta3 with capabilities/storage/1/persistent: true, as the Akash provider audit asks: add them to provider.yaml and upgrade the provider")
		}
	}
	if len(ps.models) > 0 {
		for _, k := range []string{"capabilities/gpu", "cuda"} {
			if attrs[k] == "" {
				find(pod, "attribute-missing", "AttributeMissing", fmt.Sprintf(
					"the nodes have GPUs and the provider's attributes have no %s, which the Akash provider audit asks of GPU providers (capabilities/gpu: the vendor; cuda: the CUDA version on the GPU nodes): add it to provider.yaml and upgrade the provider", k))
			}
		}
	} else {
		for _, k := range []string{"capabilities/gpu", "cuda"} {
			if attrs[k] != "" {
				find(pod, "gpu-advertised-absent", "GPUAdvertisedNotPresent", fmt.Sprintf(
					"the provider advertises %s: %s and no node's inventory labels carry a GPU: the Akash provider audit asks providers without GPUs to advertise neither capabilities/gpu nor cuda", k, attrs[k]))
			}
		}
	}

	// Audits: a signed set matches when every attribute in it is the
	// provider's, with the same value.
	if len(ps.audits) > 0 {
		var lost []string
		matched := false
		for _, a := range ps.audits {
			var diff []string
			for _, s := range a.Attributes {
				if v, ok := attrs[s.Key]; !ok {
					diff = append(diff, s.Key+" (gone)")
				} else if v != s.Value {
					diff = append(diff, fmt.Sprintf("%s (%q, signed %q)", s.Key, v, s.Value))
				}
			}
			if len(diff) == 0 {
				matched = true
				break
			}
			lost = append(lost, fmt.Sprintf("auditor %s: %s", a.Auditor, strings.Join(diff, ", ")))
		}
		if !matched {
			find(pod, "audit-lost", "AuditNoLongerMatches", fmt.Sprintf(
				"the provider's attributes no longer match any auditor's signed set, so tenants that require an audit (signedBy) no longer see it: %s. Put the signed values back, or ask the auditor to sign the new ones",
				strings.Join(lost, "; ")))
		}
	}

	// Certificates.
	var valid []*x509.Certificate
	for _, c := range ps.certs {
		block, _ := pem.Decode(c.PEM)
		if block == nil {
			continue
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			valid = append(valid, cert)
		}
	}
	renew := "provider-services tx cert generate server <host> --from <provider key> && provider-services tx cert publish server --from <provider key>, then restart the provider"
	if len(valid) == 0 {
		find(pod, "certificate-missing", "CertificateNotOnChain", fmt.Sprintf(
			"the provider %s has no valid certificate on chain: tenants cannot open mTLS to it (send manifests, read logs). Publish one: %s", ps.address, renew))
	} else {
		newest := valid[0]
		for _, c := range valid[1:] {
			if c.NotAfter.After(newest.NotAfter) {
				newest = c
			}
		}
		if left := newest.NotAfter.Sub(now); left < warn {
			state := fmt.Sprintf("expires in %s", left.Round(time.Hour))
			if left <= 0 {
				state = "expired " + (-left).Round(time.Hour).String() + " ago"
			}
			find(pod, "certificate-expiring", "CertificateExpiring", fmt.Sprintf(
				"the provider's newest valid certificate on chain (serial %s) %s (%s): renew it before tenants are refused: %s",
				newest.SerialNumber, state, newest.NotAfter.UTC().Format(time.RFC3339), renew))
		}
	}
	switch {
	case ps.endpointOK != "":
		find(pod, "endpoint-unreachable", "ProviderEndpointUnreachable", fmt.Sprintf(
			"the provider's host URI %s, which tenants reach it by, cannot be read: %s. Check its DNS, its ingress on 8443 and its firewall", ps.info.HostURI, ps.endpointOK))
	case ps.endpoint != nil && len(valid) > 0:
		served := false
		for _, c := range valid {
			served = served || c.Equal(ps.endpoint)
		}
		if !served {
			find(pod, "certificate-not-served", "CertificateNotServed", fmt.Sprintf(
				"the provider's host URI %s serves a certificate (serial %s, %s) that is none of its valid certificates on chain: tenants' clients refuse it. Restart the provider after publishing, or publish the one it serves",
				ps.info.HostURI, ps.endpoint.SerialNumber, ps.endpoint.Subject))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
