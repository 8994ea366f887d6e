package charttest

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
)

// AdmissionPolicy is the chart's denied-images admission policy as
// rendered: the policy, its binding and the CustomResourceDefinition of its
// parameters (the job creates the ImageDenylist itself).
type AdmissionPolicy struct {
	Policy  admissionv1.ValidatingAdmissionPolicy
	Binding admissionv1.ValidatingAdmissionPolicyBinding
	CRD     apiextensionsv1.CustomResourceDefinition
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
		"CustomResourceDefinition/" + admissionparams.CRDName:          &p.CRD,
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

// Apply installs the CustomResourceDefinition (or updates it, when another
// test installed it: it is one per cluster) and waits until it is served,
// then creates the policy and its binding, as helm install would. It
// returns a function that deletes the policy, the binding and the
// parameters; the CustomResourceDefinition stays for the next test.
func (p *AdmissionPolicy) Apply(ctx context.Context, cfg *rest.Config) (remove func(), err error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return func() {}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return func() {}, err
	}
	api := kube.AdmissionregistrationV1()
	ref := p.Binding.Spec.ParamRef
	remove = func() {
		_ = api.ValidatingAdmissionPolicyBindings().Delete(ctx, p.Binding.Name, metav1.DeleteOptions{})
		_ = api.ValidatingAdmissionPolicies().Delete(ctx, p.Policy.Name, metav1.DeleteOptions{})
		_ = dyn.Resource(admissionparams.GVR).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	}
	// InstallCRDs returns once the resource is in discovery.
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{p.CRD.DeepCopy()}}); err != nil {
		return remove, fmt.Errorf("install CustomResourceDefinition %s: %w", p.CRD.Name, err)
	}
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, &p.Policy, metav1.CreateOptions{}); err != nil {
		return remove, err
	}
	return remove, p.Bind(ctx, kube)
}

// Bind creates the binding (again).
func (p *AdmissionPolicy) Bind(ctx context.Context, kube kubernetes.Interface) error {
	_, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &p.Binding, metav1.CreateOptions{})
	return err
}

// WriteParams writes the policy's parameters, the ImageDenylist its binding
// names, as kill-lease-by-image does.
func (p *AdmissionPolicy) WriteParams(ctx context.Context, dyn dynamic.Interface, data map[string]string) error {
	ref := p.Binding.Spec.ParamRef
	_, err := admissionparams.Write(ctx, dyn, ref.Namespace, ref.Name, data, nil)
	return err
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
