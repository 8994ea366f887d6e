package main

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// state is what one run reads: four paginated cluster-wide LISTs, whatever
// the number of leases.
type state struct {
	deployments []appsv1.Deployment
	replicaSets []appsv1.ReplicaSet
	// pendingPods are the Akash pods in phase Pending: the only pods that
	// can show a stuck rollout, so the Running majority is never read.
	pendingPods []corev1.Pod
	// leases maps each tenant namespace to its lease; a namespace whose lease
	// labels are broken maps to the error.
	leases    map[string]akash.LeaseID
	badLeases map[string]error
}

func observe(ctx context.Context, c *kube.Clients) (*state, error) {
	akashWorkloads := metav1.ListOptions{LabelSelector: akash.LabelManifestService}
	st := &state{leases: map[string]akash.LeaseID{}, badLeases: map[string]error{}}
	var err error

	namespaces, err := kube.ListMetadata(ctx, c.Metadata, corev1.SchemeGroupVersion.WithResource("namespaces"), "", 0,
		metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq})
	if err != nil {
		return nil, fmt.Errorf("list lease namespaces: %w", err)
	}
	for _, ns := range namespaces {
		id, err := akash.LeaseIDFromLabels(ns.Labels)
		if err != nil {
			st.badLeases[ns.Name] = err
			continue
		}
		st.leases[ns.Name] = id
	}

	st.deployments, err = kube.ListAll[appsv1.Deployment](ctx, 0, akashWorkloads, c.Kube.AppsV1().Deployments("").List)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	st.replicaSets, err = kube.ListAll[appsv1.ReplicaSet](ctx, 0, akashWorkloads, c.Kube.AppsV1().ReplicaSets("").List)
	if err != nil {
		return nil, fmt.Errorf("list replicasets: %w", err)
	}
	pending := akashWorkloads
	pending.FieldSelector = fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String()
	st.pendingPods, err = kube.ListAll[corev1.Pod](ctx, 0, pending, c.Kube.CoreV1().Pods("").List)
	if err != nil {
		return nil, fmt.Errorf("list pending pods: %w", err)
	}
	return st, nil
}
