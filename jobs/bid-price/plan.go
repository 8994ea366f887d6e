package main

import (
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

// plan is what the audit decides from the nodes' GPUs: those no mapping
// prices, bid at the fallback. Pure. (A quote is decided by lib/pricing's
// Quote, as pure; bid-price changes nothing in the cluster.)
func plan(targets pricing.Targets, gpus []akash.NodeGPU) []pricing.Unmapped {
	installed := make([]pricing.NodeGPU, 0, len(gpus))
	for _, g := range gpus {
		installed = append(installed, pricing.NodeGPU{Node: g.Node,
			GPU: pricing.GPU{Vendor: g.Vendor, Model: g.Model, RAM: g.RAM, Interface: g.Interface}})
	}
	return targets.Coverage(installed)
}
