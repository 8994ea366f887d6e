//go:build tools

// Package tools pins the Kubernetes control-plane commands that the simulated
// cluster runs. It is a module of its own so that k8s.io/kubernetes and its
// staging replacements never reach the product's go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
