package akashtest

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// RolledOut tells whether a Deployment has finished its rollout: its
// controller has seen the latest spec, every replica runs the current
// template and is available, and no pod of an older revision remains.
func RolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration == d.Generation &&
		d.Status.UpdatedReplicas == want &&
		d.Status.AvailableReplicas == want &&
		d.Status.Replicas == want
}

// Unschedulable returns the scheduler's message for each Pending Akash pod
// of namespace ns (every namespace if empty) that it rejected, e.g.
// "0/3 nodes are available: 1 Insufficient cpu, ...".
func Unschedulable(ctx context.Context, kube kubernetes.Interface, ns string) ([]string, error) {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: akash.LabelManifestService,
		FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list pending pods of %q: %w", ns, err)
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				out = append(out, c.Message)
			}
		}
	}
	return out, nil
}
