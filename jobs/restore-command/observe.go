package main

import (
	"context"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// rollout is one service's workload and its rollout state.
type rollout struct {
	kind, name, uid string
	// command is the current template's command for the service's container.
	command []string
	// stuckSince is when the command-less revision started without becoming
	// available; zero when the rollout is complete.
	stuckSince time.Time
	// currentRevision identifies the pods of the older, running revision
	// (a ReplicaSet name, or a StatefulSet's currentRevision).
	olderRevisions map[string]bool
}

// runningPod is a Ready pod of a service.
type runningPod struct {
	name, revision string
	command        []string
}

type serviceKey struct{ namespace, service string }

type state struct {
	manifests []*akash.Manifest
	invalid   []error
	rollouts  map[serviceKey]rollout
	pods      map[serviceKey][]runningPod
}

func observe(ctx context.Context, env *job.Env, manifestNS string) (state, error) {
	st := state{rollouts: map[serviceKey]rollout{}, pods: map[serviceKey][]runningPod{}}
	ml, err := akash.ListManifests(ctx, env.Clients, manifestNS, metav1.ListOptions{})
	if err != nil {
		return st, err
	}
	st.manifests, st.invalid = ml.Manifests, ml.Invalid
	sel := metav1.ListOptions{LabelSelector: akash.LabelManifestService}
	apps := env.Clients.Kube.AppsV1()
	page := env.Common.PageSize

	deployments, err := kube.ListAll[appsv1.Deployment](ctx, page, sel, apps.Deployments("").List)
	if err != nil {
		return st, err
	}
	sets, err := kube.ListAll[appsv1.ReplicaSet](ctx, page, sel, apps.ReplicaSets("").List)
	if err != nil {
		return st, err
	}
	setsOf := map[string][]appsv1.ReplicaSet{}
	for _, rs := range sets {
		if o := metav1.GetControllerOf(&rs); o != nil && o.Kind == "Deployment" {
			setsOf[string(o.UID)] = append(setsOf[string(o.UID)], rs)
		}
	}
	for _, d := range deployments {
		svc := d.Labels[akash.LabelManifestService]
		r := rollout{kind: "Deployment", name: d.Name, uid: string(d.UID), command: commandOf(d.Spec.Template.Spec, svc), olderRevisions: map[string]bool{}}
		var newest *appsv1.ReplicaSet
		for i := range setsOf[string(d.UID)] {
			rs := &setsOf[string(d.UID)][i]
			if newest == nil || revision(rs) > revision(newest) {
				newest = rs
			}
		}
		for _, rs := range setsOf[string(d.UID)] {
			if newest != nil && rs.UID != newest.UID {
				r.olderRevisions[rs.Name] = true
			}
		}
		if newest != nil && newest.Spec.Replicas != nil && newest.Status.AvailableReplicas < *newest.Spec.Replicas {
			r.stuckSince = newest.CreationTimestamp.Time
		}
		st.rollouts[serviceKey{d.Namespace, svc}] = r
	}
	statefulsets, err := kube.ListAll[appsv1.StatefulSet](ctx, page, sel, apps.StatefulSets("").List)
	if err != nil {
		return st, err
	}
	for _, s := range statefulsets {
		svc := s.Labels[akash.LabelManifestService]
		r := rollout{kind: "StatefulSet", name: s.Name, uid: string(s.UID), command: commandOf(s.Spec.Template.Spec, svc), olderRevisions: map[string]bool{}}
		if s.Status.UpdateRevision != "" && s.Status.CurrentRevision != s.Status.UpdateRevision {
			r.olderRevisions[s.Status.CurrentRevision] = true
			r.stuckSince = updateStart(s)
		}
		st.rollouts[serviceKey{s.Namespace, svc}] = r
	}
	pods, err := kube.ListAll[corev1.Pod](ctx, page, sel, env.Clients.Kube.CoreV1().Pods("").List)
	if err != nil {
		return st, err
	}
	for _, p := range pods {
		if !ready(&p) {
			continue
		}
		svc := p.Labels[akash.LabelManifestService]
		rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if o := metav1.GetControllerOf(&p); o != nil && o.Kind == "ReplicaSet" {
			rev = o.Name
		}
		st.pods[serviceKey{p.Namespace, svc}] = append(st.pods[serviceKey{p.Namespace, svc}], runningPod{name: p.Name, revision: rev, command: commandOf(p.Spec, svc)})
	}
	return st, nil
}

// commandOf is the command of the service's container (the provider names
// it after the service; the first container otherwise).
func commandOf(spec corev1.PodSpec, service string) []string {
	for _, c := range spec.Containers {
		if c.Name == service {
			return c.Command
		}
	}
	if len(spec.Containers) > 0 {
		return spec.Containers[0].Command
	}
	return nil
}

func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
	return n
}

// updateStart approximates when a StatefulSet's update began: its
// generation's observation has no time, so the status condition-less
// StatefulSet is given its creation time at worst.
func updateStart(s appsv1.StatefulSet) time.Time {
	t := s.CreationTimestamp.Time
	for _, f := range s.ManagedFields {
		if f.Time != nil && f.Subresource == "" && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
