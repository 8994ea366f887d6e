package main

import (
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

// plan is what the audit decides from the nodes' GPUs: those no mapping
// prices, bid at the fallback. Pure. (A quote is decided by lib/pricing's
// Quote, as pure; bid-price changes nothing in the cluster.)
func plan(targets pricing.Targets, gpus []akash.NodeGPU) []pricing.Unmapped {
	return targets.Coverage(gpus)
}
