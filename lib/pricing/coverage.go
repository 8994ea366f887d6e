package pricing

import "sort"

// NodeGPU is a GPU model a node has, as the inventory operator labels it
// (lib/akash reads the labels).
type NodeGPU struct {
	Node string
	GPU  GPU
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
		key := g.GPU.Key(t.Fixes.AMDMemoryAndInterface)
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
