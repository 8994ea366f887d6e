package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// world builds observed state by hand, the shapes the real controllers make.
type world struct{ st state }

func newWorld() *world {
	return &world{st: state{leases: map[string]akash.LeaseID{}, badLeases: map[string]error{}}}
}

func (w *world) lease(n int) string {
	id := akashtest.LeaseID(n)
	w.st.leases[id.Namespace()] = id
	return id.Namespace()
}

func (w *world) deployment(ns, name string) *deployment {
	w.st.deployments = append(w.st.deployments, deployment{
		namespace: ns, name: name, uid: types.UID(ns + "/" + name), generation: 2, observedGeneration: 2,
	})
	return &w.st.deployments[len(w.st.deployments)-1]
}

func (w *world) rs(ns, deployment string, rev int64, replicas int32) string {
	name := fmt.Sprintf("%s-rev%d", deployment, rev)
	w.st.replicaSets = append(w.st.replicaSets, replicaSet{
		namespace: ns, name: name, uid: types.UID(ns + "/" + name), owner: types.UID(ns + "/" + deployment),
		revision: rev, specReplicas: replicas, replicas: replicas,
	})
	return name
}

func (w *world) pendingPod(ns, rs string, since time.Duration, reason, message string) {
	w.st.pendingPods = append(w.st.pendingPods, pendingPodOf(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: rs + "-pod",
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, UID: types.UID(ns + "/" + rs), Controller: ptr.To(true)}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: message,
			LastTransitionTime: metav1.NewTime(now.Add(-since)),
		}}},
	}))
}

const insufficientCPU = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."

func targets(p runPlan) []string {
	var out []string
	for _, a := range p.actions {
		t := a.Target.Name
		if a.Hold != "" {
			t += " (held)"
		}
		out = append(out, t)
	}
	return out
}

func TestPlanStuckRolloutDeletesOlderReplicaSets(t *testing.T) {
	w := newWorld()
	ns := w.lease(1)
	w.deployment(ns, "web")
	old1 := w.rs(ns, "web", 1, 1)
	old2 := w.rs(ns, "web", 2, 1)
	w.rs(ns, "web", 3, 0) // revision history without pods: kept
	newRS := w.rs(ns, "web", 4, 1)
	w.pendingPod(ns, newRS, 10*time.Minute, corev1.PodReasonUnschedulable, insufficientCPU)

	p := plan(&w.st, now, 5*time.Minute)
	assert.Equal(t, []string{old2, old1}, targets(p), "older ReplicaSets that hold pods, newest first")
	assert.Equal(t, 1, p.stuck)
	a := p.actions[0]
	assert.Equal(t, verbDeleteReplicaSet, a.Verb)
	assert.Equal(t, reasonRolloutStuck, a.Reason)
	assert.Equal(t, akashtest.LeaseID(1).String(), a.Lease)
	assert.Equal(t, "ReplicaSet", a.Target.Kind)
	assert.Equal(t, string(types.UID(ns+"/"+old2)), a.Target.UID, "deleted by UID precondition")
	require.NotNil(t, a.Regarding)
	assert.Equal(t, "Deployment", a.Regarding.Kind)
	assert.Equal(t, "web", a.Regarding.Name)
	assert.Contains(t, a.Message, "stuck for 10m0s")
	assert.Contains(t, a.Message, "Insufficient cpu")
}

func TestPlanTouchesOnlyTheStuckDeployment(t *testing.T) {
	// The runbook's script deletes every ReplicaSet of the namespace but the
	// newest when any pod there says "Insufficient": here that would take the
	// api service's running pods too.
	w := newWorld()
	ns := w.lease(1)
	w.deployment(ns, "web")
	webOld := w.rs(ns, "web", 1, 1)
	webNew := w.rs(ns, "web", 2, 1)
	w.pendingPod(ns, webNew, time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
	w.deployment(ns, "api")
	w.rs(ns, "api", 1, 1)
	apiNew := w.rs(ns, "api", 2, 1)
	w.pendingPod(ns, apiNew, time.Hour, corev1.PodReasonUnschedulable, "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")

	p := plan(&w.st, now, 5*time.Minute)
	assert.Equal(t, []string{webOld}, targets(p))
}

func TestPlanLeavesAlone(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		want  []string
		hold  string
		note  string
	}{
		{
			name: "rollout younger than --min-stuck",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web")
				w.rs(ns, "web", 1, 1)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), 2*time.Minute, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			want: []string{"web-rev1 (held)"}, hold: "less than --min-stuck 5m0s",
		},
		{
			name: "paused deployment",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web").paused = true
				w.rs(ns, "web", 1, 1)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			want: []string{"web-rev1 (held)"}, hold: "paused",
		},
		{
			name: "deployment controller behind",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web").generation = 3
				w.rs(ns, "web", 1, 1)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			want: []string{"web-rev1 (held)"}, hold: "has not yet seen generation 3",
		},
		{
			name: "namespace without lease labels",
			setup: func(w *world) {
				w.deployment("not-a-lease", "web")
				w.rs("not-a-lease", "web", 1, 1)
				w.pendingPod("not-a-lease", w.rs("not-a-lease", "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			want: []string{"web-rev1 (held)"}, hold: "carries no lease labels",
		},
		{
			name: "namespace with broken lease labels",
			setup: func(w *world) {
				w.st.badLeases["broken"] = fmt.Errorf("label akash.network/lease.id.owner is missing")
				w.deployment("broken", "web")
				w.rs("broken", "web", 1, 1)
				w.pendingPod("broken", w.rs("broken", "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			want: []string{"web-rev1 (held)"}, hold: "owner is missing",
		},
		{
			name: "unschedulable for another reason",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web")
				w.rs(ns, "web", 1, 1)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, "0/1 nodes are available: 1 node(s) had untolerated taint.")
			},
		},
		{
			name: "pending but not rejected by the scheduler",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web")
				w.rs(ns, "web", 1, 1)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), time.Hour, "SchedulingGated", "Insufficient cpu")
			},
		},
		{
			name: "older pods of the old ReplicaSet already gone",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web")
				w.rs(ns, "web", 1, 0)
				w.pendingPod(ns, w.rs(ns, "web", 2, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
			},
			note: "no older ReplicaSet holds pods",
		},
		{
			name: "the stuck pod belongs to an older ReplicaSet",
			setup: func(w *world) {
				ns := w.lease(1)
				w.deployment(ns, "web")
				w.pendingPod(ns, w.rs(ns, "web", 1, 1), time.Hour, corev1.PodReasonUnschedulable, insufficientCPU)
				w.rs(ns, "web", 2, 1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.setup(w)
			p := plan(&w.st, now, 5*time.Minute)
			assert.Equal(t, tt.want, targets(p))
			if tt.hold != "" {
				require.NotEmpty(t, p.actions)
				assert.Contains(t, p.actions[0].Hold, tt.hold)
			}
			if tt.note != "" {
				require.Len(t, p.notes, 1)
				assert.Contains(t, p.notes[0].message, tt.note)
			} else {
				assert.Empty(t, p.notes)
			}
		})
	}
}

func TestUnschedulableResources(t *testing.T) {
	w := newWorld()
	ns := w.lease(1)
	w.pendingPod(ns, "a", 3*time.Minute, corev1.PodReasonUnschedulable, "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 Insufficient memory, 2 Insufficient cpu.")
	w.pendingPod(ns, "b", 7*time.Minute, corev1.PodReasonUnschedulable, insufficientCPU)
	pods := []*pendingPod{&w.st.pendingPods[0], &w.st.pendingPods[1]}
	since, resources, pod := unschedulable(pods)
	assert.Equal(t, now.Add(-7*time.Minute), since, "stuck since the earliest rejection")
	assert.Equal(t, "b-pod", pod)
	assert.Equal(t, []string{"cpu", "memory", "nvidia.com/gpu"}, resources)
}

func TestObservedRecords(t *testing.T) {
	rs := replicaSetOf(&appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web-abc", UID: "rs-uid",
			Annotations: map[string]string{revisionAnnotation: "7"},
			OwnerReferences: []metav1.OwnerReference{
				{Kind: "Something", UID: "not-the-controller"},
				{Kind: "Deployment", UID: "dep-uid", Controller: ptr.To(true)},
			},
		},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(2))},
		Status: appsv1.ReplicaSetStatus{Replicas: 1},
	})
	assert.Equal(t, replicaSet{namespace: "ns", name: "web-abc", uid: "rs-uid", owner: "dep-uid", revision: 7, specReplicas: 2, replicas: 1}, rs)

	d := deploymentOf(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "dep-uid", Generation: 4},
		Spec:       appsv1.DeploymentSpec{Paused: true},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 3},
	})
	assert.Equal(t, deployment{namespace: "ns", name: "web", uid: "dep-uid", paused: true, generation: 4, observedGeneration: 3}, d)

	scheduled := pendingPodOf(&corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}}})
	assert.False(t, scheduled.unschedulable, "a bound pod waiting for its kubelet is not unschedulable")
}
