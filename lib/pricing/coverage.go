package pricing

import (
	"regexp"
	"sort"
	"strings"
)

// GPULabelPrefix starts the inventory operator's GPU labels on nodes:
// akash.network/capabilities.gpu.vendor.<vendor>.model.<model>[.ram.<ram>|.interface.<interface>]=<count>.
const GPULabelPrefix = "akash.network/capabilities.gpu.vendor."

var gpuLabel = regexp.MustCompile(`^([^.]+)\.model\.(.+?)(?:\.(ram|interface)\.(.+))?$`)

// NodeGPU is one GPU model a node offers, as its labels describe it.
type NodeGPU struct {
	Node, Vendor, Model, RAM, Interface string
}

// Key is the mapping key an order for this GPU, naming all it has, looks up.
func (g NodeGPU) Key(amdFull bool) string {
	return GPU{Vendor: g.Vendor, Model: g.Model, RAM: g.RAM, Interface: g.Interface}.Key(amdFull)
}

// NodeGPUs reads a node's GPU labels.
func NodeGPUs(node string, labels map[string]string) []NodeGPU {
	byModel := map[string]*NodeGPU{}
	for k := range labels {
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
		}
	}
	out := make([]NodeGPU, 0, len(byModel))
	for _, g := range byModel {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key(true) < out[j].Key(true) })
	return out
}

// Unmapped is a GPU on the provider's nodes that no mapping prices: its
// orders are bid at the fallback price.
type Unmapped struct {
	Key      string
	Nodes    []string
	Fallback Dec
}

// Coverage lists the GPUs of the given nodes that would be priced at the
// fallback, by key, with the nodes that have them.
func (t Targets) Coverage(gpus []NodeGPU) []Unmapped {
	byKey := map[string]*Unmapped{}
	for _, g := range gpus {
		key := g.Key(t.Fixes.AMDMemoryAndInterface)
		if _, matched := t.GPU.Lookup(key); matched != "" {
			continue
		}
		if _, star := t.GPU.prices["*"]; star && t.Fixes.StarWildcard {
			continue
		}
		u := byKey[key]
		if u == nil {
			u = &Unmapped{Key: key, Fallback: t.GPU.Fallback}
			byKey[key] = u
		}
		u.Nodes = append(u.Nodes, g.Node)
	}
	out := make([]Unmapped, 0, len(byKey))
	for _, u := range byKey {
		sort.Strings(u.Nodes)
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
