package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// observe reads the GPUs the nodes offer, from their labels (one
// metadata-only LIST of nodes).
func observe(ctx context.Context, clients *kube.Clients) ([]akash.NodeGPU, error) {
	nodes, err := kube.ListMetadata(ctx, clients.Metadata, corev1.SchemeGroupVersion.WithResource("nodes"), "", kube.DefaultPageSize, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes for their GPU labels: %w", err)
	}
	var gpus []akash.NodeGPU
	for _, n := range nodes {
		gpus = append(gpus, akash.NodeGPUs(n.Name, n.Labels)...)
	}
	return gpus, nil
}
