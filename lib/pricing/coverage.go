package pricing

import (
	"sort"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// gpuKey is the mapping key an order for this GPU, naming all it has,
// looks up.
func gpuKey(g akash.NodeGPU, amdFull bool) string {
	return GPU{Vendor: g.Vendor, Model: g.Model, RAM: g.RAM, Interface: g.Interface}.Key(amdFull)
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
func (t Targets) Coverage(gpus []akash.NodeGPU) []Unmapped {
	byKey := map[string]*Unmapped{}
	for _, g := range gpus {
		key := gpuKey(g, t.Fixes.AMDMemoryAndInterface)
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
