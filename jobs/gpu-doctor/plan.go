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
	stepPlugin    = "kubectl get pods -A -l %s -o wide; check the plugin's logs and that its version supports the driver"
	stepInventory = "check the akash inventory operator's pods (akash-services) and its logs for this node; " +
		"the node's GPUs are not offered until it labels them"
	stepXid = "a GPU fell off the bus: nvidia-smi -q; dmesg | grep -i xid; reseat or replace it, or reboot"
)

// plan turns the observed state into findings. Pure: no I/O.
func plan(st state, now time.Time, minPending time.Duration, pluginSelector string) []actuator.Action {
	plug := fmt.Sprintf(stepPlugin, pluginSelector)
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
		models := strings.Join(n.models, ", ")
		switch {
		case n.labelled > 0 && n.allocatable == 0:
			find("gpu-not-allocatable", "GPUNotAllocatable", fmt.Sprintf(
				"node %s is labelled with %d GPUs (%s) but has no allocatable %s: the device plugin does not report them. Try: %s; %s; %s",
				n.name, n.labelled, models, GPUResource, stepDriver, stepFabric, plug))
		case n.allocatable > 0 && n.labelled == 0:
			find("gpu-not-labelled", "GPUNotLabelled", fmt.Sprintf(
				"node %s has %d allocatable %s but no akash.network/capabilities.gpu labels: tenants cannot lease them. Try: %s",
				n.name, n.allocatable, GPUResource, stepInventory))
		case n.labelled > n.allocatable:
			find("gpu-count-mismatch", "GPUCountMismatch", fmt.Sprintf(
				"node %s is labelled with %d GPUs (%s) but only %d are allocatable. Try: %s",
				n.name, n.labelled, models, n.allocatable, stepXid))
		}
		if n.allocatable == 0 && n.labelled == 0 {
			continue
		}
		ready := false
		for _, p := range pluginsOn[n.name] {
			ready = ready || p.ready
		}
		if !ready {
			what := "no device plugin pod"
			if len(pluginsOn[n.name]) > 0 {
				what = fmt.Sprintf("device plugin pod %s is not ready", pluginsOn[n.name][0].name)
			}
			find("gpu-device-plugin-missing", "GPUDevicePluginNotReady", fmt.Sprintf(
				"GPU node %s has %s: new GPU pods cannot start there and its GPUs may vanish from allocatable. Try: %s",
				n.name, what, plug))
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
