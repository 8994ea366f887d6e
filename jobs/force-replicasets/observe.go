package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"golang.org/x/sync/errgroup"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// state is what one run reads: four paginated cluster-wide LISTs, whatever
// the number of leases. Each object is reduced on the fly to the few fields
// plan decides on, so a provider of thousands of leases costs little memory.
type state struct {
	deployments []deployment
	replicaSets []replicaSet
	// pendingPods are the Akash pods in phase Pending: the only pods that
	// can show a stuck rollout, so the Running majority is never read.
	pendingPods []pendingPod
	// leases maps each tenant namespace that has a pending pod to its
	// lease; a namespace whose lease labels are broken maps to the error in
	// badLeases.
	leases    map[string]akash.LeaseID
	badLeases map[string]error
}

type deployment struct {
	namespace, name    string
	uid                types.UID
	paused             bool
	generation         int64
	observedGeneration int64
}

type replicaSet struct {
	namespace, name string
	uid             types.UID
	owner           types.UID // the controlling Deployment
	revision        int64     // deployment.kubernetes.io/revision
	specReplicas    int32
	replicas        int32 // pods it holds (status)
}

// pendingPod is a Pending pod and, if the scheduler rejected it, why.
type pendingPod struct {
	namespace, name string
	owner           types.UID // the controlling ReplicaSet
	unschedulable   bool      // PodScheduled=False, reason Unschedulable
	since           time.Time // when the scheduler rejected it
	message         string    // the scheduler's message
}

func observe(ctx context.Context, c *kube.Clients, pageSize int64) (*state, error) {
	akashWorkloads := metav1.ListOptions{LabelSelector: akash.LabelManifestService}
	st := &state{leases: map[string]akash.LeaseID{}, badLeases: map[string]error{}}

	withPending := map[string]bool{} // namespaces with a pending pod
	namespaces := func() error {
		err := kube.EachMetadata(ctx, c.Metadata, corev1.SchemeGroupVersion.WithResource("namespaces"), "", pageSize,
			metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq}, func(ns *metav1.PartialObjectMetadata) error {
				if !withPending[ns.Name] {
					return nil // no stuck rollout can be in it
				}
				id, err := akash.LeaseIDFromLabels(ns.Labels)
				if err != nil {
					st.badLeases[ns.Name] = err
					return nil
				}
				st.leases[ns.Name] = id
				return nil
			})
		if err != nil {
			return fmt.Errorf("list lease namespaces: %w", err)
		}
		return nil
	}
	deployments := func() error {
		err := kube.Each(ctx, pageSize, akashWorkloads, c.Kube.AppsV1().Deployments("").List, func(d *appsv1.Deployment) error {
			st.deployments = append(st.deployments, deploymentOf(d))
			return nil
		})
		if err != nil {
			return fmt.Errorf("list deployments: %w", err)
		}
		return nil
	}
	replicaSets := func() error {
		err := kube.Each(ctx, pageSize, akashWorkloads, c.Kube.AppsV1().ReplicaSets("").List, func(rs *appsv1.ReplicaSet) error {
			st.replicaSets = append(st.replicaSets, replicaSetOf(rs))
			return nil
		})
		if err != nil {
			return fmt.Errorf("list replicasets: %w", err)
		}
		return nil
	}
	pendingPods := func() error {
		pending := akashWorkloads
		pending.FieldSelector = fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String()
		err := kube.Each(ctx, pageSize, pending, c.Kube.CoreV1().Pods("").List, func(p *corev1.Pod) error {
			st.pendingPods = append(st.pendingPods, pendingPodOf(p))
			return nil
		})
		if err != nil {
			return fmt.Errorf("list pending pods: %w", err)
		}
		return nil
	}
	// The pending pods first: few, and they say which namespaces can
	// hold a stuck rollout. Then two lanes, so that the API server works on
	// one LIST while this process decodes the other: the workloads, whose
	// pages are large, one after the other (two at once would cost a page
	// of memory more), and beside them the namespaces' metadata. Each lane
	// fills fields of its own.
	if err := pendingPods(); err != nil {
		return nil, err
	}
	for _, p := range st.pendingPods {
		withPending[p.namespace] = true
	}
	var g errgroup.Group
	lane := func(lists ...func() error) func() error {
		return func() error {
			for _, list := range lists {
				if err := list(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	g.Go(lane(replicaSets, deployments))
	g.Go(lane(namespaces))
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return st, nil
}

func deploymentOf(d *appsv1.Deployment) deployment {
	return deployment{
		namespace: d.Namespace, name: d.Name, uid: d.UID,
		paused:     d.Spec.Paused,
		generation: d.Generation, observedGeneration: d.Status.ObservedGeneration,
	}
}

func replicaSetOf(rs *appsv1.ReplicaSet) replicaSet {
	r := replicaSet{namespace: rs.Namespace, name: rs.Name, uid: rs.UID, owner: controllerOf(rs.OwnerReferences), replicas: rs.Status.Replicas}
	r.revision, _ = strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	if rs.Spec.Replicas != nil {
		r.specReplicas = *rs.Spec.Replicas
	}
	return r
}

func pendingPodOf(p *corev1.Pod) pendingPod {
	pp := pendingPod{namespace: p.Namespace, name: p.Name, owner: controllerOf(p.OwnerReferences)}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			pp.unschedulable, pp.since, pp.message = true, c.LastTransitionTime.Time, c.Message
		}
	}
	return pp
}

func controllerOf(refs []metav1.OwnerReference) types.UID {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}
