package charttest

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// AdmissionPolicy is the chart's denied-images admission policy as
// rendered: the policy, its binding and its (empty) parameters.
type AdmissionPolicy struct {
	Policy  admissionv1.ValidatingAdmissionPolicy
	Binding admissionv1.ValidatingAdmissionPolicyBinding
	Params  corev1.ConfigMap
}

// RenderAdmissionPolicy renders the chart with the killLeaseByImage values
// and returns its admission policy.
func RenderAdmissionPolicy(killLeaseByImage map[string]any) (*AdmissionPolicy, error) {
	objs, _, err := Render(map[string]any{"killLeaseByImage": killLeaseByImage})
	if err != nil {
		return nil, err
	}
	p := &AdmissionPolicy{}
	for key, into := range map[string]any{
		"ValidatingAdmissionPolicy/akash-janitor-denied-images":        &p.Policy,
		"ValidatingAdmissionPolicyBinding/akash-janitor-denied-images": &p.Binding,
		"ConfigMap/akash-janitor-denied-images-params":                 &p.Params,
	} {
		u, ok := objs[key]
		if !ok {
			return nil, fmt.Errorf("the chart renders no %s", key)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return p, nil
}

// Apply creates the three objects, as helm install would, and returns a
// function that deletes them.
func (p *AdmissionPolicy) Apply(ctx context.Context, kube kubernetes.Interface) (remove func(), err error) {
	api := kube.AdmissionregistrationV1()
	remove = func() {
		_ = api.ValidatingAdmissionPolicyBindings().Delete(ctx, p.Binding.Name, metav1.DeleteOptions{})
		_ = api.ValidatingAdmissionPolicies().Delete(ctx, p.Policy.Name, metav1.DeleteOptions{})
		_ = kube.CoreV1().ConfigMaps(p.Params.Namespace).Delete(ctx, p.Params.Name, metav1.DeleteOptions{})
	}
	if _, err := kube.CoreV1().ConfigMaps(p.Params.Namespace).Create(ctx, &p.Params, metav1.CreateOptions{}); err != nil {
		return remove, err
	}
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, &p.Policy, metav1.CreateOptions{}); err != nil {
		return remove, err
	}
	_, err = api.ValidatingAdmissionPolicyBindings().Create(ctx, &p.Binding, metav1.CreateOptions{})
	return remove, err
}

// TryPod asks the API server to admit the pod without creating it (a dry
// run passes through admission like any request): "" when admitted, else
// the refusal. An error that is no refusal (Forbidden or Invalid) is
// returned as such.
func TryPod(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod) (string, error) {
	_, err := kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		return "", nil
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return err.Error(), nil
	}
	return "", fmt.Errorf("ask admission for pod %s/%s: %w", pod.Namespace, pod.Name, err)
}

// WaitRefused waits until admission refuses the pod with a message that
// holds want: policies and their parameters reach the API server's
// admission through informers, a moment after they are written.
func WaitRefused(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		refusal, err := TryPod(ctx, kube, pod)
		if err != nil {
			return err
		}
		if refusal != "" && strings.Contains(refusal, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("admission did not refuse pod %s/%s with %q within %s (last answer: %q)", pod.Namespace, pod.Name, want, timeout, refusal)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
