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
)

// ProviderPod creates the provider's StatefulSet (one replica, container
// `provider`) and waits until akash-provider-0 runs. Creating it again is a
// no-op.
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
					Name: ProviderContainer, Image: "ghcr.io/akash-network/provider:0.10.0",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
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
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/%s did not run: %w", ProviderNamespace, ProviderPod, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
