package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const model = "akash.network/capabilities.gpu.vendor.nvidia.model."

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(
		kubetest.Node{Name: "gpu-ok", CPU: "32", Memory: "128Gi", GPU: 4, Labels: map[string]string{model + "a100": "4", model + "a100.ram.80Gi": "4"}},
		kubetest.Node{Name: "gpu-unlabelled", CPU: "32", Memory: "128Gi", GPU: 2},
		kubetest.Node{Name: "gpu-unallocatable", CPU: "32", Memory: "128Gi", Labels: map[string]string{model + "t4": "2"}},
		kubetest.Node{Name: "gpu-lost-one", CPU: "32", Memory: "128Gi", GPU: 7, Labels: map[string]string{model + "h100": "8", model + "h100.interface.sxm5": "8"}},
		kubetest.Node{Name: "cpu-only", CPU: "32", Memory: "128Gi"},
		// Its device plugin from the NVIDIA GPU Operator.
		kubetest.Node{Name: "gpu-operator", CPU: "32", Memory: "128Gi", GPU: 2, Labels: map[string]string{model + "l40s": "2"}},
		// AMD's GPUs, with AMD's device plugin.
		kubetest.Node{Name: "gpu-amd", CPU: "64", Memory: "256Gi", AMDGPU: 8, Labels: map[string]string{"akash.network/capabilities.gpu.vendor.amd.model.mi300x": "8"}},
		// Cordoned: the inventory operator took its labels off.
		kubetest.Node{Name: "gpu-cordoned", CPU: "32", Memory: "128Gi", GPU: 4},
	))
}

// devicePlugin runs a device plugin pod on node, labelled as its install
// labels it (label key=value).
func devicePlugin(t *testing.T, c *kubetest.Cluster, node string, label ...string) {
	t.Helper()
	if len(label) == 0 {
		label = []string{"app.kubernetes.io/name", "nvidia-device-plugin"} // NVIDIA's standalone chart
	}
	_, err := c.Kube.CoreV1().Pods("kube-system").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "device-plugin-" + node, Labels: map[string]string{label[0]: label[1]}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "plugin", Image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func TestProviderDoctorFindsWhatTheRunbookChecks(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	devicePlugin(t, c, "gpu-ok")
	devicePlugin(t, c, "gpu-lost-one")
	devicePlugin(t, c, "gpu-operator", "app", "nvidia-device-plugin-daemonset")
	devicePlugin(t, c, "gpu-amd", "name", "amdgpu-dp-ds")
	devicePlugin(t, c, "gpu-cordoned")
	_, err := c.Kube.CoreV1().Nodes().Patch(ctx, "gpu-cordoned", types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	// A tenant asks for more GPUs than any node has.
	_, err = c.Kube.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "llm-training"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "train", Image: "train:1", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{GPUResource: resource.MustParse("16")}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		pods, err := c.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 5 {
			return false
		}
		for _, p := range pods.Items {
			if !podReady(&p) {
				return false
			}
		}
		p, err := c.Kube.CoreV1().Pods("default").Get(ctx, "llm-training", metav1.GetOptions{})
		return err == nil && len(p.Status.Conditions) > 0
	}, time.Minute, 200*time.Millisecond)

	r := jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--min-pending=0s")
	require.Equal(t, 0, r.Code, "a report run succeeds whatever it finds")
	found := map[string]string{} // object -> finding
	for _, l := range r.Lines {
		if f, ok := l["finding"].(string); ok {
			found[l["object"].(string)+" "+f] = l["message"].(string)
		}
	}
	want := []string{
		"Node/gpu-unlabelled gpu-not-labelled",
		"Node/gpu-unlabelled gpu-device-plugin-missing",
		"Node/gpu-unallocatable gpu-not-allocatable",
		"Node/gpu-unallocatable gpu-device-plugin-missing",
		"Node/gpu-lost-one gpu-count-mismatch",
		"Pod/default/llm-training gpu-pod-pending",
		"Node/gpu-cordoned gpu-node-unavailable",
	}
	for _, w := range want {
		assert.Contains(t, found, w)
	}
	assert.Len(t, found, len(want), "nothing about gpu-ok, cpu-only, the GPU Operator's node or the AMD node: %v", found)
	assert.Contains(t, found["Node/gpu-cordoned gpu-node-unavailable"], "GPU node gpu-cordoned is cordoned: the inventory operator offers none of its GPUs")
	assert.Contains(t, found["Node/gpu-unallocatable gpu-not-allocatable"], "labelled with 2 GPUs (nvidia/t4) but has no allocatable nvidia.com/gpu")
	assert.Contains(t, found["Node/gpu-unallocatable gpu-not-allocatable"], "nvidia-smi")
	assert.Contains(t, found["Node/gpu-lost-one gpu-count-mismatch"], "labelled with 8 GPUs (nvidia/h100) but only 7 are allocatable")
	assert.Contains(t, found["Pod/default/llm-training gpu-pod-pending"], "Insufficient nvidia.com/gpu")
	assert.EqualValues(t, 7, r.Summary()["findings"])

	// Each finding is a Warning Event on its object.
	events, err := c.Kube.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	reasons := map[string]bool{}
	for _, e := range events.Items {
		if strings.HasPrefix(e.ReportingController, "akash-janitor") {
			assert.Equal(t, "Warning", e.Type)
			reasons[e.Regarding.Kind+"/"+e.Regarding.Name+" "+e.Reason] = true
		}
	}
	assert.True(t, reasons["Node/gpu-lost-one GPUCountMismatch"], "%v", reasons)
	assert.True(t, reasons["Pod/llm-training GPUPodPending"], "%v", reasons)

	// The pod is young: with the default --min-pending it is not reported.
	r = jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--dry-run")
	for _, l := range r.Lines {
		assert.NotEqual(t, "gpu-pod-pending", l["finding"])
	}
}

func TestProviderDoctorBadSelector(t *testing.T) {
	c := kubetest.Shared(t)
	r := jobtest.Run(t, jobtest.Build(t, "."), "--kubeconfig", c.KubeconfigPath, "--device-plugin-selector=app in (")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, `--device-plugin-selector=\"app in (\"`)
}
