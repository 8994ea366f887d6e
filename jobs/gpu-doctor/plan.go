package main

import (
	"fmt"
	"sort"
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
