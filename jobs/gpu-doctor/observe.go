package main

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// GPUResource is the NVIDIA device plugin's extended resource.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// node is what gpu-doctor needs of a node.
type node struct {
	name, uid   string
	allocatable int64
	// labelled is the GPU count the inventory labels give (the sum of the
	// model labels' values); models are their keys.
	labelled int64
	models   []string
	ready    bool
}

type plugin struct {
	node  string
	name  string
	ready bool
}

type pendingPod struct {
	namespace, name, uid string
	gpus                 int64
	since                time.Time
	message              string
}

type state struct {
	nodes   []node
	plugins []plugin
	pending []pendingPod
}

func (s state) gpuNodes() int {
	n := 0
	for _, nd := range s.nodes {
		if nd.allocatable > 0 || nd.labelled > 0 {
			n++
		}
	}
	return n
}

// observe reads nodes, the device plugin's pods and Pending pods: three
// LISTs, whatever the cluster's size.
func observe(ctx context.Context, env *job.Env, pluginSelector string) (state, error) {
	var st state
	pageSize := env.Common.PageSize
	nodes, err := kube.ListAll[corev1.Node](ctx, pageSize, metav1.ListOptions{}, env.Clients.Kube.CoreV1().Nodes().List)
	if err != nil {
		return st, err
	}
	for _, n := range nodes {
		nd := node{name: n.Name, uid: string(n.UID)}
		if q, ok := n.Status.Allocatable[GPUResource]; ok {
			nd.allocatable = q.Value()
		}
		for _, g := range akash.NodeGPUs(n.Name, n.Labels) {
			nd.models = append(nd.models, g.Vendor+"/"+g.Model)
			nd.labelled += g.Count
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				nd.ready = c.Status == corev1.ConditionTrue
			}
		}
		st.nodes = append(st.nodes, nd)
	}
	plugins, err := kube.ListAll[corev1.Pod](ctx, pageSize, metav1.ListOptions{LabelSelector: pluginSelector}, env.Clients.Kube.CoreV1().Pods("").List)
	if err != nil {
		return st, err
	}
	for _, p := range plugins {
		st.plugins = append(st.plugins, plugin{node: p.Spec.NodeName, name: p.Namespace + "/" + p.Name, ready: podReady(&p)})
	}
	pending, err := kube.ListAll[corev1.Pod](ctx, pageSize,
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String()},
		env.Clients.Kube.CoreV1().Pods("").List)
	if err != nil {
		return st, err
	}
	for _, p := range pending {
		gpus := int64(0)
		for _, c := range p.Spec.Containers {
			if q, ok := c.Resources.Requests[GPUResource]; ok {
				gpus += q.Value()
			} else if q, ok := c.Resources.Limits[GPUResource]; ok {
				gpus += q.Value()
			}
		}
		if gpus == 0 {
			continue
		}
		pp := pendingPod{namespace: p.Namespace, name: p.Name, uid: string(p.UID), gpus: gpus, since: p.CreationTimestamp.Time}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				pp.since, pp.message = c.LastTransitionTime.Time, strings.TrimSpace(c.Message)
			}
		}
		st.pending = append(st.pending, pp)
	}
	return st, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
