package charttest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
)

// AdmissionPolicy is the chart's denied-images admission policy as
// rendered: the policy, its binding and, from the chart's crds/, the
// CustomResourceDefinition of its parameters (the job creates the
// ImageDenylist itself).
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
	crd, err := CRD(admissionparams.CRDName)
	if err != nil {
		return nil, err
	}
	p := &AdmissionPolicy{CRD: *crd}
	for key, into := range map[string]any{
		"ValidatingAdmissionPolicy/akash-janitor-denied-images":        &p.Policy,
		"ValidatingAdmissionPolicyBinding/akash-janitor-denied-images": &p.Binding,
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

// CRD is the CustomResourceDefinition of that name in the chart's crds/,
// which Helm installs before the templates (and never upgrades or deletes).
func CRD(name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	chrt, err := loader.Load(ChartDir())
	if err != nil {
		return nil, err
	}
	for _, f := range chrt.CRDObjects() {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(f.File.Data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Filename, err)
		}
		if crd.Name == name {
			return crd, nil
		}
	}
	return nil, fmt.Errorf("the chart's crds/ hold no CustomResourceDefinition %s", name)
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

// RemoveCRD deletes the CustomResourceDefinition, when it is there, and
// waits until it is gone: for a test of a cluster that lacks it (the
// package's cluster may hold it from an earlier test).
func RemoveCRD(ctx context.Context, cfg *rest.Config, name string) error {
	crds, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api := crds.ApiextensionsV1().CustomResourceDefinitions()
	if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
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
