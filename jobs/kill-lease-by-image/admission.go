package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
)

// costContainers and costRefLen are the pod the cost warning measures the
// lists by: larger than most tenants', not the largest the API allows.
const costContainers, costRefLen = 20, 128

// writeAdmissionParams keeps the denied-images admission policy's
// parameters (the ImageDenylist the chart's ValidatingAdmissionPolicy reads
// through paramKind) equal to the job's parsed lists, so the policy refuses
// what the job would close, and admits again what was taken off the
// denylist. It creates them the first time. It writes in dry-run and while
// the job is held too: the parameters are the lists, not an action on a
// lease; the binding's validationActions say whether the policy refuses.
func writeAdmissionParams(ctx context.Context, dyn dynamic.Interface, namespace, name string, lists imagematch.Lists, log zerolog.Logger) error {
	// A pod of many containers with long names, judged against a long
	// denylist, can cost the API server more than it evaluates.
	if cost := lists.AdmissionCost(costContainers, costRefLen); cost > imagematch.AdmissionCostLimit {
		log.Warn().Int("estimated_cost", cost).Int("cost_limit", imagematch.AdmissionCostLimit).
			Msgf("the denylist is long enough that the API server cannot evaluate the admission policy for a pod of %d containers with %d-byte image names: such a pod is admitted under failurePolicy Ignore (this job still closes its lease) and refused under Fail", costContainers, costRefLen)
	}
	labels := map[string]string{"app.kubernetes.io/name": "akash-janitor", "app.kubernetes.io/component": "kill-lease-by-image"}
	result, err := admissionparams.Write(ctx, dyn, namespace, name, lists.AdmissionParams(), labels)
	where := fmt.Sprintf("%s %s/%s (--admission-params)", admissionparams.Kind, namespace, name)
	switch {
	case errors.Is(err, admissionparams.ErrNotInstalled):
		return fmt.Errorf("the admission policy's parameters, %s, cannot be created: %w; until they are, the policy admits every image", where, err)
	case err != nil:
		return fmt.Errorf("write the admission policy's parameters, %s: the policy keeps the lists it had: %w", where, err)
	case result != admissionparams.Unchanged:
		done := "written"
		if result == admissionparams.Created {
			done = "created"
		}
		log.Info().Str("imagedenylist", namespace+"/"+name).Int("deny_entries", len(lists.Deny)).Int("allow_entries", len(lists.Allow)).
			Msgf("the admission policy's parameters are %s from the lists", done)
	}
	return nil
}

// typeWait bounds how long the install hook waits for the ImageDenylist
// type to be served: Helm installs it from crds/ moments before.
const typeWait = time.Minute

// writeAdmissionParamsOnce is the install hook's run: the parameters
// written, and nothing else. It waits a little for a type Helm has just
// installed.
func writeAdmissionParamsOnce(ctx context.Context, dyn dynamic.Interface, namespace, name string, lists imagematch.Lists, log zerolog.Logger) error {
	deadline := time.Now().Add(typeWait)
	for {
		err := writeAdmissionParams(ctx, dyn, namespace, name, lists, log)
		if !errors.Is(err, admissionparams.ErrNotInstalled) || time.Now().After(deadline) {
			if err == nil {
				log.Info().Str("imagedenylist", namespace+"/"+name).Msg("the admission policy's parameters hold the lists; nothing else is done (--admission-params-only)")
			}
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

// observeRefusals reads, for each lease the plan closes, which of its
// workloads cannot create their pods because the admission policy refuses
// them: a ReplicaSet says so in its ReplicaFailure condition, a StatefulSet
// only in its FailedCreate events. Two LISTs per such lease namespace (they
// are few; a cluster-wide LIST would read every lease's). It returns, by
// namespace, the workloads ("ReplicaSet web-7c9f", "StatefulSet db"); a
// namespace whose ReplicaSets it cannot read is left out.
func observeRefusals(ctx context.Context, kube kubernetes.Interface, actions []actuator.Action, log zerolog.Logger) map[string][]string {
	out := map[string][]string{}
	for _, a := range actions {
		if a.Hold != "" {
			continue
		}
		ns := a.Target.Name
		list, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: akash.LabelManifestService})
		if err != nil {
			log.Warn().Err(err).Str("namespace", ns).Str("lease", a.Lease).Msg("cannot read the lease's ReplicaSets; the reason says nothing of admission")
			continue
		}
		refused := map[string]bool{}
		for _, rs := range list.Items {
			if admissionparams.Refusal(&rs) != "" {
				refused["ReplicaSet "+rs.Name] = true
			}
		}
		events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=StatefulSet,reason=FailedCreate"})
		if err != nil {
			log.Warn().Err(err).Str("namespace", ns).Str("lease", a.Lease).Msg("cannot read the lease's Events; the reason says nothing of its StatefulSets' admission")
		} else {
			for _, e := range events.Items {
				if strings.Contains(e.Message, imagematch.AdmissionRefusal) {
					refused["StatefulSet "+e.InvolvedObject.Name] = true
				}
			}
		}
		if len(refused) > 0 {
			out[ns] = slices.Sorted(maps.Keys(refused))
		}
	}
	return out
}

// withRefusals adds to each close's reason that the lease's pods are
// refused at admission too, naming the workloads that say so.
//
// The leases refused at admission go first: their pods never start, so
// the provider's deployment monitor closes them itself as unstable
// within minutes (provider cluster/monitor.go), and the janitor's close,
// whose reason is the true one, must come before, whatever the run's
// budget leaves for the rest.
func withRefusals(actions []actuator.Action, refused map[string][]string) {
	sort.SliceStable(actions, func(i, j int) bool {
		return len(refused[actions[i].Target.Name]) > 0 && len(refused[actions[j].Target.Name]) == 0
	})
	for i, a := range actions {
		switch w := refused[a.Target.Name]; len(w) {
		case 0:
		case 1:
			actions[i].Message += fmt.Sprintf("; the image is also refused at admission (%s cannot create its pods)", w[0])
		default:
			actions[i].Message += fmt.Sprintf("; the image is also refused at admission (%s cannot create their pods)", strings.Join(w, ", "))
		}
	}
}
