// Package admissionparams reads and writes the denied-images admission
// policy's parameters: one ImageDenylist object (group
// akash-janitor.akash.network, a custom resource the chart installs with the
// policy), whose data the ValidatingAdmissionPolicy reads through paramKind.
// kill-lease-by-image writes it from its parsed lists
// (imagematch.Lists.AdmissionParams); the tests and the demo write it the
// same way. Refusal reads the policy's refusal off a ReplicaSet, for the
// job, its tests and the demo alike.
//
// Why a custom resource and not a ConfigMap: kube-apiserver (1.30 up to at
// least 1.36) watches a built-in paramKind such as ConfigMap with the
// informer of its shared factory, started for the policy. The first time no
// binding names that kind, even for a second, it stops that informer for
// good, and every policy with that paramKind then reads what the informer
// last saw, or finds nothing, until the API server restarts
// (kubernetes/kubernetes#130887). A helm uninstall and install, or turning
// the policy off and on, would leave it admitting every image. A custom
// resource's informer is made anew each time it is needed.
package admissionparams

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/akash-janitor/akash-janitor/lib/imagematch"
)

// The custom resource, as the chart's CustomResourceDefinition declares it.
const (
	Group      = "akash-janitor.akash.network"
	Version    = "v1alpha1"
	Kind       = "ImageDenylist"
	Resource   = "imagedenylists"
	APIVersion = Group + "/" + Version
	// CRDName is the CustomResourceDefinition's name.
	CRDName = Resource + "." + Group
)

// GVR is the resource the dynamic client reads and writes.
var GVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// ErrNotInstalled: the cluster has no ImageDenylist type (its
// CustomResourceDefinition is not installed).
var ErrNotInstalled = errors.New("the cluster has no " + Kind + " resource (" + CRDName + "); the chart installs it with the admission policy")

// Result says what Write did.
type Result int

const (
	// Unchanged: the object already held the data.
	Unchanged Result = iota
	// Created: the object was not there and now is.
	Created
	// Updated: the object held other data and now holds these.
	Updated
)

// Write makes the data of ImageDenylist namespace/name equal to data. It
// creates the object, with the labels, when it is not there, and updates it
// only when its data differ, against the resourceVersion it read (retrying
// on a conflict), so a write that raced another keeps the last one whole.
func Write(ctx context.Context, dyn dynamic.Interface, namespace, name string, data, labels map[string]string) (Result, error) {
	objects := dyn.Resource(GVR).Namespace(namespace)
	result := Unchanged
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := objects.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj = &unstructured.Unstructured{}
			obj.SetAPIVersion(APIVersion)
			obj.SetKind(Kind)
			obj.SetNamespace(namespace)
			obj.SetName(name)
			obj.SetLabels(labels)
			if err := setData(obj, data); err != nil {
				return err
			}
			if _, err := objects.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				if apierrors.IsAlreadyExists(err) {
					// Created by another writer since the read: read it again.
					return apierrors.NewConflict(GVR.GroupResource(), name, err)
				}
				return created(err)
			}
			result = Created
			return nil
		}
		if err != nil {
			return err
		}
		have, err := Data(obj)
		if err != nil {
			return err
		}
		if maps.Equal(have, data) {
			result = Unchanged
			return nil
		}
		if err := setData(obj, data); err != nil {
			return err
		}
		if _, err := objects.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			return err
		}
		result = Updated
		return nil
	})
	return result, err
}

// created tells a missing type apart from other refusals of a create: the
// API server answers 404 for a resource it does not serve, and for a
// namespace that is not there (which names itself in the details).
func created(err error) error {
	var status apierrors.APIStatus
	if apierrors.IsNotFound(err) && !(errors.As(err, &status) && status.Status().Details != nil && status.Status().Details.Kind == "namespaces") {
		return fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	return err
}

// Read returns the data of ImageDenylist namespace/name.
func Read(ctx context.Context, dyn dynamic.Interface, namespace, name string) (map[string]string, error) {
	obj, err := dyn.Resource(GVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return Data(obj)
}

// Data is an ImageDenylist's data: empty when it has none, an error when
// it is not a map of strings.
func Data(obj *unstructured.Unstructured) (map[string]string, error) {
	data, _, err := unstructured.NestedStringMap(obj.Object, "data")
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: data: %w", Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return data, nil
}

func setData(obj *unstructured.Unstructured, data map[string]string) error {
	if len(data) == 0 {
		unstructured.RemoveNestedField(obj.Object, "data")
		return nil
	}
	return unstructured.SetNestedStringMap(obj.Object, data, "data")
}

// Refusal is the message of the ReplicaSet's failure to create its pods
// when that failure is the denied-images policy's refusal (its message
// holds imagematch.AdmissionRefusal), "" otherwise: no failure, one that is
// over, or another refusal (a quota, say).
func Refusal(rs *appsv1.ReplicaSet) string {
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && strings.Contains(c.Message, imagematch.AdmissionRefusal) {
			return c.Message
		}
	}
	return ""
}
