package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

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

	rsByOwner := map[types.UID][]*replicaSet{}
	for i := range st.replicaSets {
		rs := &st.replicaSets[i]
		if rs.owner != "" {
			rsByOwner[rs.owner] = append(rsByOwner[rs.owner], rs)
		}
	}
	podsByOwner := map[types.UID][]*pendingPod{}
	for i := range st.pendingPods {
		pod := &st.pendingPods[i]
		if pod.owner != "" {
			podsByOwner[pod.owner] = append(podsByOwner[pod.owner], pod)
		}
	}

	deployments := append([]deployment(nil), st.deployments...)
	sort.Slice(deployments, func(i, j int) bool {
		if deployments[i].namespace != deployments[j].namespace {
			return deployments[i].namespace < deployments[j].namespace
		}
		return deployments[i].name < deployments[j].name
	})

	for i := range deployments {
		d := &deployments[i]
		sets := rsByOwner[d.uid]
		newest := newestReplicaSet(sets)
		if newest == nil {
			continue
		}
		since, resources, podName := unschedulable(podsByOwner[newest.uid])
		if podName == "" {
			continue
		}
		p.stuck++
		stuckFor := now.Sub(since).Round(time.Second)
		depRef := ref("Deployment", d.namespace, d.name, d.uid)

		var older []*replicaSet
		for _, rs := range sets {
			if rs.uid != newest.uid && (rs.replicas > 0 || rs.specReplicas > 0) {
				older = append(older, rs)
			}
		}
		lease := ""
		if id, ok := st.leases[d.namespace]; ok {
			lease = id.String()
		}
		if len(older) == 0 {
			p.notes = append(p.notes, note{
				namespace: d.namespace, object: "deployment/" + d.name, lease: lease, reason: "StuckNothingToFree",
				message: fmt.Sprintf("new pod %s is unschedulable (Insufficient %s) but no older ReplicaSet holds pods: the node lacks room for it, nothing to free",
					podName, strings.Join(resources, ", ")),
			})
			continue
		}

		hold := ""
		switch {
		case lease == "" && st.badLeases[d.namespace] != nil:
			hold = fmt.Sprintf("namespace %s has broken lease labels (%v): not sure it is a tenant's, leaving it alone", d.namespace, st.badLeases[d.namespace])
		case lease == "":
			hold = fmt.Sprintf("namespace %s carries no lease labels: not a lease namespace the provider made, leaving it alone", d.namespace)
		case d.paused:
			hold = "deployment is paused: its owner stopped the rollout on purpose"
		case d.observedGeneration < d.generation:
			hold = fmt.Sprintf("the deployment controller has not yet seen generation %d (observed %d): state may be stale", d.generation, d.observedGeneration)
		case stuckFor < minStuck:
			hold = fmt.Sprintf("unschedulable for %s, less than --min-stuck %s: may still be a slow rollout", stuckFor, minStuck)
		}

		sort.Slice(older, func(i, j int) bool { return older[i].revision > older[j].revision })
		for _, rs := range older {
			p.actions = append(p.actions, actuator.Action{
				Verb:      verbDeleteReplicaSet,
				Target:    ref("ReplicaSet", rs.namespace, rs.name, rs.uid),
				Regarding: &depRef,
				Lease:     lease,
				Reason:    reasonRolloutStuck,
				Message: fmt.Sprintf("rollout of deployment %s stuck for %s: new pod %s is unschedulable (Insufficient %s) while older ReplicaSet %s (revision %d) holds %d pod(s); deleting it frees their room",
					d.name, stuckFor, podName, strings.Join(resources, ", "), rs.name, rs.revision, rs.replicas),
				Hold: hold,
			})
		}
	}
	return p
}

// unschedulable finds the pods the scheduler rejected for lack of resources
// and returns since when the earliest was rejected, the resources named, and
// that pod's name ("" if none).
func unschedulable(pods []*pendingPod) (since time.Time, resources []string, podName string) {
	seen := map[string]bool{}
	for _, pod := range pods {
		if !pod.unschedulable {
			continue
		}
		matches := insufficient.FindAllStringSubmatch(pod.message, -1)
		if len(matches) == 0 {
			continue
		}
		for _, m := range matches {
			if !seen[m[1]] {
				seen[m[1]] = true
				resources = append(resources, m[1])
			}
		}
		if podName == "" || pod.since.Before(since) {
			since, podName = pod.since, pod.name
		}
	}
	sort.Strings(resources)
	return since, resources, podName
}

// newestReplicaSet is the one with the highest revision: the deployment
// controller numbers them, so this holds even when clocks or creation order
// mislead.
func newestReplicaSet(sets []*replicaSet) *replicaSet {
	var newest *replicaSet
	for _, rs := range sets {
		if newest == nil || rs.revision > newest.revision {
			newest = rs
		}
	}
	return newest
}

func ref(kind, namespace, name string, uid types.UID) actuator.Ref {
	return actuator.Ref{APIVersion: "apps/v1", Kind: kind, Namespace: namespace, Name: name, UID: string(uid)}
}
