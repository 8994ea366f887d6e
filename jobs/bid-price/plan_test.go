package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

func TestPlan(t *testing.T) {
	gpus := []akash.NodeGPU{
		{Node: "gpu-1", Vendor: "nvidia", Model: "a100", RAM: "80Gi", Interface: "sxm4", Count: 8},
		{Node: "gpu-2", Vendor: "nvidia", Model: "h100", RAM: "80Gi", Count: 8},
		{Node: "gpu-3", Vendor: "nvidia", Model: "h100", RAM: "80Gi", Count: 4},
	}
	for name, tc := range map[string]struct {
		mappings string
		want     map[string][]string // unmapped key -> nodes
	}{
		"all mapped":       {mappings: "a100=900,h100=1500", want: map[string][]string{}},
		"one model missed": {mappings: "a100=900", want: map[string][]string{"h100.80Gi": {"gpu-2", "gpu-3"}}},
		"none":             {mappings: "", want: map[string][]string{"a100.80Gi.sxm4": {"gpu-1"}, "h100.80Gi": {"gpu-2", "gpu-3"}}},
	} {
		t.Run(name, func(t *testing.T) {
			targets, err := pricing.TargetsFromEnv(func(k string) (string, bool) {
				if k == "PRICE_TARGET_GPU_MAPPINGS" && tc.mappings != "" {
					return tc.mappings, true
				}
				return "", false
			})
			require.NoError(t, err)
			got := map[string][]string{}
			for _, u := range plan(targets, gpus) {
				got[u.Key] = u.Nodes
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
