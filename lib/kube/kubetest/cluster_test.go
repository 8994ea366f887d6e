package kubetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The cluster's own test: the components together do what tests rely on,
// and Stop leaves nothing behind.
func TestClusterRunsWorkloadsAndCleansUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: []Node{{Name: "node-a", CPU: "2", Memory: "4Gi", GPU: 1}}})
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	node, err := c.Kube.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	require.NoError(t, err)
	gpu := node.Status.Allocatable[GPUResource]
	assert.Equal(t, int64(1), gpu.Value())

	labels := map[string]string{"app": "web"}
	_, err = c.Kube.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "nginx",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 1
	}, time.Minute, 200*time.Millisecond, "the controller, scheduler and kwok bring a Deployment up")

	dir := c.Dir
	require.NoError(t, c.Stop())
	stopped = true
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "Stop removes the cluster directory")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil {
			assert.NotContains(t, strings.ReplaceAll(string(cmdline), "\x00", " "), dir, "a process of the stopped cluster is still running")
		}
	}
}
