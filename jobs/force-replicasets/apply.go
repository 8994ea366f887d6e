package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// deleteReplicaSet deletes the planned ReplicaSet, and only that one: the UID
// precondition refuses a ReplicaSet recreated under the same name since the
// run observed it. Its pods go with it (background propagation).
func deleteReplicaSet(client kubernetes.Interface) actuator.Executor {
	return func(ctx context.Context, a actuator.Action) error {
		uid := types.UID(a.Target.UID)
		err := client.AppsV1().ReplicaSets(a.Target.Namespace).Delete(ctx, a.Target.Name, metav1.DeleteOptions{
			Preconditions:     &metav1.Preconditions{UID: &uid},
			PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		})
		if apierrors.IsNotFound(err) {
			return nil // already gone: the goal is met
		}
		if err != nil {
			return fmt.Errorf("delete replicaset %s/%s: %w", a.Target.Namespace, a.Target.Name, err)
		}
		return nil
	}
}
