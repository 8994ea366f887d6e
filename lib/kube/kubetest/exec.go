package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// execGVR is kwok's Exec: how its kubelet server runs pods/exec of one pod.
var execGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}

// kwokExecCRD declares kwok's Exec kind; kwok watches its objects
// (--enable-crds=Exec). The schema is left open: kwok validates what it
// reads.
func kwokExecCRD() *apiextensionsv1.CustomResourceDefinition {
	open := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "execs.kwok.x-k8s.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kwok.x-k8s.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Exec", ListKind: "ExecList", Plural: "execs", Singular: "exec"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &open,
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
}

// AllowExec makes pods/exec into the container of namespace/pod run the
// command on this machine, with env added to the environment of kwok (which
// plays the kubelet), and dir as the working directory: the stand-in for
// the container's own process environment. The command must be a path
// (kwok looks names up on its own PATH).
func (c *Cluster) AllowExec(ctx context.Context, namespace, pod, container, dir string, env map[string]string) error {
	var envs []any
	for k, v := range env {
		envs = append(envs, map[string]any{"name": k, "value": v})
	}
	local := map[string]any{"envs": envs}
	if dir != "" {
		local["workDir"] = dir
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec": map[string]any{"execs": []any{map[string]any{
			"containers": []any{container},
			"local":      local,
		}}},
	}}
	res := c.Dynamic().Resource(execGVR).Namespace(namespace)
	if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kwok Exec for %s/%s: %w", namespace, pod, err)
	}
	// kwok learns of the object through a watch: wait until an exec runs.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		r, err := kube.Exec(ctx, c.Config, namespace, pod, container, []string{"/bin/true"}, nil)
		if err == nil && r.ExitCode == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods/exec into %s/%s never ran (is the pod bound to a kwok node? see %s): %v", namespace, pod, filepath.Join(c.Dir, "kwok.log"), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
