package akash

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNodeGPUs(t *testing.T) {
	labels := map[string]string{
		"akash.network/capabilities.gpu.vendor.nvidia.model.a100":                "8",
		"akash.network/capabilities.gpu.vendor.nvidia.model.a100.ram.80Gi":       "8",
		"akash.network/capabilities.gpu.vendor.nvidia.model.a100.interface.sxm4": "8",
		"akash.network/capabilities.gpu.vendor.amd.model.mi300x":                 "four",
		"akash.network/capabilities.gpu.vendor.amd.model.mi300x.ram.192Gi":       "4",
		"akash.network/capabilities.gpu.vendor.nvidia":                           "1", // no model: not a GPU label
		"kubernetes.io/hostname":                                                 "gpu-1",
	}
	assert.Equal(t, []NodeGPU{
		{Node: "gpu-1", Vendor: "amd", Model: "mi300x", RAM: "192Gi"},
		{Node: "gpu-1", Vendor: "nvidia", Model: "a100", RAM: "80Gi", Interface: "sxm4", Count: 8},
	}, NodeGPUs("gpu-1", labels), "a count that does not parse is 0")
	assert.Empty(t, NodeGPUs("cpu-1", map[string]string{"kubernetes.io/hostname": "cpu-1"}))
}
