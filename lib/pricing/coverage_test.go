package pricing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

func TestCoverage(t *testing.T) {
	nodes := map[string]map[string]string{
		"gpu-1": {
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100":                "8",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100.ram.80Gi":       "8",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100.interface.sxm4": "8",
			"kubernetes.io/hostname": "gpu-1",
		},
		"gpu-2": {
			"akash.network/capabilities.gpu.vendor.nvidia.model.rtx4090":          "2",
			"akash.network/capabilities.gpu.vendor.nvidia.model.rtx4090.ram.24Gi": "2",
		},
		"gpu-3": {
			"akash.network/capabilities.gpu.vendor.amd.model.mi300x":           "4",
			"akash.network/capabilities.gpu.vendor.amd.model.mi300x.ram.192Gi": "4",
			"akash.network/capabilities.gpu.vendor.nvidia.model.rtx4090":       "1",
		},
	}
	var gpus []NodeGPU
	for _, name := range []string{"gpu-1", "gpu-2", "gpu-3"} {
		for _, g := range akash.NodeGPUs(name, nodes[name]) {
			gpus = append(gpus, NodeGPU{Node: g.Node, GPU: GPU{Vendor: g.Vendor, Model: g.Model, RAM: g.RAM, Interface: g.Interface}})
		}
	}
	require.Len(t, gpus, 4)

	tg, err := TargetsFromEnv(env("PRICE_TARGET_GPU_MAPPINGS", "a100=900,mi300x.192Gi=1500"))
	require.NoError(t, err)
	assert.Equal(t, []Unmapped{
		{Key: "mi300x", Nodes: []string{"gpu-3"}, Fallback: MustDec("1500")}, // the script keys AMD by model only
		{Key: "rtx4090", Nodes: []string{"gpu-3"}, Fallback: MustDec("1500")},
		{Key: "rtx4090.24Gi", Nodes: []string{"gpu-2"}, Fallback: MustDec("1500")},
	}, tg.Coverage(gpus))

	tg.Fixes.AMDMemoryAndInterface = true
	keys := []string{}
	for _, u := range tg.Coverage(gpus) {
		keys = append(keys, u.Key)
	}
	assert.Equal(t, []string{"rtx4090", "rtx4090.24Gi"}, keys)
}
