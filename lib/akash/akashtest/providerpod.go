package akashtest

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The provider's own workload, as its Helm chart installs it.
const (
	ProviderNamespace   = "akash-services"
	ProviderStatefulSet = "akash-provider"
	ProviderPod         = "akash-provider-0"
	ProviderContainer   = "provider"
	// ProviderImage is the provider's newest release the fixtures were
	// checked against (README, "Provider versions").
	ProviderImage = "ghcr.io/akash-network/provider:0.14.0"
)

// ProviderPod creates the provider's StatefulSet (one replica, container
// `provider`) and waits until akash-provider-0 runs (a pod being deleted
// does not count: its StatefulSet's next one does). Creating it again is
// a no-op.
func (b *Builder) ProviderPod(ctx context.Context) error {
	labels := map[string]string{"app": "akash-provider"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: ProviderStatefulSet, Namespace: ProviderNamespace, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: ProviderContainer, Image: ProviderImage,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
				}}},
			},
		},
	}
	if _, err := b.Kube.AppsV1().StatefulSets(ProviderNamespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the provider StatefulSet: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		p, err := b.Kube.CoreV1().Pods(ProviderNamespace).Get(ctx, ProviderPod, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/%s did not run: %w", ProviderNamespace, ProviderPod, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SetReady sets a running pod's Ready condition, as a kubelet does when a
// readiness probe passes or fails: ready false gives the reason
// ContainersNotReady. kwok leaves a pod's status alone once it runs.
func (b *Builder) SetReady(ctx context.Context, namespace, name string, ready bool) error {
	p, err := b.Kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	status, reason, message := corev1.ConditionTrue, "", ""
	if !ready {
		status, reason = corev1.ConditionFalse, "ContainersNotReady"
		message = "containers with unready status: [" + p.Spec.Containers[0].Name + "]"
	}
	now := metav1.Now()
	for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		found := false
		for i := range p.Status.Conditions {
			if c := &p.Status.Conditions[i]; c.Type == t {
				c.Status, c.Reason, c.Message, c.LastTransitionTime, found = status, reason, message, now, true
			}
		}
		if !found {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
		}
	}
	_, err = b.Kube.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}
