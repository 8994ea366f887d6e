package akash

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// GPULabelPrefix starts the inventory operator's GPU labels on nodes:
// akash.network/capabilities.gpu.vendor.<vendor>.model.<model>[.ram.<ram>|.interface.<interface>]=<count>.
const GPULabelPrefix = "akash.network/capabilities.gpu.vendor."

var gpuLabel = regexp.MustCompile(`^([^.]+)\.model\.(.+?)(?:\.(ram|interface)\.(.+))?$`)

// NodeGPU is one GPU model a node offers, as its labels describe it.
type NodeGPU struct {
	Node, Vendor, Model, RAM, Interface string
	// Count is the model label's value: how many the node has (0 when it
	// does not parse).
	Count int64
}

// NodeGPUs reads a node's GPU labels, one NodeGPU a model, sorted by
// vendor, model, memory and interface.
func NodeGPUs(node string, labels map[string]string) []NodeGPU {
	byModel := map[string]*NodeGPU{}
	for k, v := range labels {
		rest, ok := strings.CutPrefix(k, GPULabelPrefix)
		if !ok {
			continue
		}
		m := gpuLabel.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		id := m[1] + "/" + m[2]
		g := byModel[id]
		if g == nil {
			g = &NodeGPU{Node: node, Vendor: m[1], Model: m[2]}
			byModel[id] = g
		}
		switch m[3] {
		case "ram":
			g.RAM = m[4]
		case "interface":
			g.Interface = m[4]
		default:
			g.Count, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	out := make([]NodeGPU, 0, len(byModel))
	for _, g := range byModel {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Vendor+"/"+a.Model+"/"+a.RAM+"/"+a.Interface < b.Vendor+"/"+b.Model+"/"+b.RAM+"/"+b.Interface
	})
	return out
}
