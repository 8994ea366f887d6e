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

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// The cluster's own test: the components together do what tests rely on,
// and Stop leaves nothing behind.
func TestClusterRunsWorkloadsAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulated cluster; run without -short (make test)")
	}
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

	// pods/exec goes through the API server to kwok, which runs the
	// command here with the Exec object's environment.
	pods, err := c.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	pod := pods.Items[0].Name
	_, err = kube.Exec(ctx, c.Config, "default", pod, "web", []string{"/bin/true"}, nil)
	require.Error(t, err, "no Exec object: kwok refuses")
	require.NoError(t, c.AllowExec(ctx, "default", pod, "web", "", map[string]string{"GREETING": "hello"}))
	res, err := kube.Exec(ctx, c.Config, "default", pod, "web", []string{"/bin/sh", "-c", `read line; echo "$GREETING $line"; echo oops >&2`}, []byte("world\n"))
	require.NoError(t, err)
	assert.Equal(t, "hello world\n", string(res.Stdout), "stdin in, environment set, stdout back")
	assert.Equal(t, "oops\n", string(res.Stderr))
	assert.Equal(t, 0, res.ExitCode)
	// A kubelet reports a non-zero exit as an exit code; kwok reports it as
	// an error naming the status, after the streams.
	res, err = kube.Exec(ctx, c.Config, "default", pod, "web", []string{"/bin/sh", "-c", "echo partial; echo why >&2; exit 3"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Equal(t, "partial\n", string(res.Stdout))
	assert.Equal(t, "why\n", string(res.Stderr))
	_, err = kube.Exec(ctx, c.Config, "default", pod, "sidecar", []string{"/bin/true"}, nil)
	require.Error(t, err, "a container the pod does not have")

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
