package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

const (
	verbDeleteReplicaSet = "delete-replicaset"
	reasonRolloutStuck   = "RolloutStuck"
	revisionAnnotation   = "deployment.kubernetes.io/revision"
)

// The scheduler's message names each resource no node has room for:
// "0/3 nodes are available: 2 Insufficient cpu, 1 Insufficient nvidia.com/gpu."
var insufficient = regexp.MustCompile(`Insufficient ([A-Za-z0-9./_-]*[A-Za-z0-9])`)

// note is something the operator should know that is not an action.
type note struct {
	namespace, object, lease, reason, message string
}

type runPlan struct {
	actions []actuator.Action
	notes   []note
	stuck   int // deployments found stuck, acted on or not
}

// plan decides, from observed state alone, which ReplicaSets to delete.
func plan(st *state, now time.Time, minStuck time.Duration) runPlan {
	var p runPlan

	rsByOwner := map[types.UID][]*appsv1.ReplicaSet{}
	for i := range st.replicaSets {
		rs := &st.replicaSets[i]
		if owner := controllerOf(rs.OwnerReferences); owner != "" {
			rsByOwner[owner] = append(rsByOwner[owner], rs)
		}
	}
	podsByOwner := map[types.UID][]*corev1.Pod{}
	for i := range st.pendingPods {
		pod := &st.pendingPods[i]
		if owner := controllerOf(pod.OwnerReferences); owner != "" {
			podsByOwner[owner] = append(podsByOwner[owner], pod)
		}
	}

	deployments := append([]appsv1.Deployment(nil), st.deployments...)
	sort.Slice(deployments, func(i, j int) bool {
		if deployments[i].Namespace != deployments[j].Namespace {
			return deployments[i].Namespace < deployments[j].Namespace
		}
		return deployments[i].Name < deployments[j].Name
	})

	for i := range deployments {
		d := &deployments[i]
		sets := rsByOwner[d.UID]
		newest := newestReplicaSet(sets)
		if newest == nil {
			continue
		}
		since, resources, podName := unschedulable(podsByOwner[newest.UID])
		if podName == "" {
			continue
		}
		p.stuck++
		stuckFor := now.Sub(since).Round(time.Second)
		depRef := ref("apps/v1", "Deployment", d.Namespace, d.Name, d.UID)

		var older []*appsv1.ReplicaSet
		for _, rs := range sets {
			if rs.UID != newest.UID && holdsPods(rs) {
				older = append(older, rs)
			}
		}
		lease := ""
		if id, ok := st.leases[d.Namespace]; ok {
			lease = id.String()
		}
		if len(older) == 0 {
			p.notes = append(p.notes, note{
				namespace: d.Namespace, object: "deployment/" + d.Name, lease: lease, reason: "StuckNothingToFree",
				message: fmt.Sprintf("new pod %s is unschedulable (Insufficient %s) but no older ReplicaSet holds pods: the node lacks room for it, nothing to free",
					podName, strings.Join(resources, ", ")),
			})
			continue
		}

		hold := ""
		switch {
		case lease == "" && st.badLeases[d.Namespace] != nil:
			hold = fmt.Sprintf("namespace %s has broken lease labels (%v): not sure it is a tenant's, leaving it alone", d.Namespace, st.badLeases[d.Namespace])
		case lease == "":
			hold = fmt.Sprintf("namespace %s carries no lease labels: not a lease namespace the provider made, leaving it alone", d.Namespace)
		case d.Spec.Paused:
			hold = "deployment is paused: its owner stopped the rollout on purpose"
		case d.Status.ObservedGeneration < d.Generation:
			hold = fmt.Sprintf("the deployment controller has not yet seen generation %d (observed %d): state may be stale", d.Generation, d.Status.ObservedGeneration)
		case stuckFor < minStuck:
			hold = fmt.Sprintf("unschedulable for %s, less than --min-stuck %s: may still be a slow rollout", stuckFor, minStuck)
		}

		sort.Slice(older, func(i, j int) bool { return revision(older[i]) > revision(older[j]) })
		for _, rs := range older {
			rsRef := ref("apps/v1", "ReplicaSet", rs.Namespace, rs.Name, rs.UID)
			p.actions = append(p.actions, actuator.Action{
				Verb:      verbDeleteReplicaSet,
				Target:    rsRef,
				Regarding: &depRef,
				Lease:     lease,
				Reason:    reasonRolloutStuck,
				Message: fmt.Sprintf("rollout of deployment %s stuck for %s: new pod %s is unschedulable (Insufficient %s) while older ReplicaSet %s (revision %d) holds %d pod(s); deleting it frees their room",
					d.Name, stuckFor, podName, strings.Join(resources, ", "), rs.Name, revision(rs), podsHeld(rs)),
				Hold: hold,
			})
		}
	}
	return p
}

// unschedulable finds the pods the scheduler rejected for lack of resources
// and returns since when the earliest was rejected, the resources named, and
// one pod's name ("" if none).
func unschedulable(pods []*corev1.Pod) (since time.Time, resources []string, podName string) {
	seen := map[string]bool{}
	for _, pod := range pods {
		for _, c := range pod.Status.Conditions {
			if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
				continue
			}
			matches := insufficient.FindAllStringSubmatch(c.Message, -1)
			if len(matches) == 0 {
				continue
			}
			for _, m := range matches {
				if !seen[m[1]] {
					seen[m[1]] = true
					resources = append(resources, m[1])
				}
			}
			if podName == "" || c.LastTransitionTime.Time.Before(since) {
				since, podName = c.LastTransitionTime.Time, pod.Name
			}
		}
	}
	sort.Strings(resources)
	return since, resources, podName
}

// newestReplicaSet is the one with the highest revision: the deployment
// controller numbers them, so this holds even when clocks or creation order
// mislead.
func newestReplicaSet(sets []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var newest *appsv1.ReplicaSet
	for _, rs := range sets {
		if newest == nil || revision(rs) > revision(newest) {
			newest = rs
		}
	}
	return newest
}

func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	return n
}

func holdsPods(rs *appsv1.ReplicaSet) bool {
	return podsHeld(rs) > 0 || (rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0)
}

func podsHeld(rs *appsv1.ReplicaSet) int32 { return rs.Status.Replicas }

func controllerOf(refs []metav1.OwnerReference) types.UID {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

func ref(apiVersion, kind, namespace, name string, uid types.UID) actuator.Ref {
	return actuator.Ref{APIVersion: apiVersion, Kind: kind, Namespace: namespace, Name: name, UID: string(uid)}
}
