package actuator

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
)

// LeaseAnnotation carries an Event's lease ID
// (owner/dseq/gseq/oseq/provider), so what the janitor did to a lease can be
// read back (kubectl janitor report) after the lease's objects are gone.
const LeaseAnnotation = "akash-janitor.akash.network/lease"

// KubeEvents records events.k8s.io/v1 Events, synchronously, so a short-lived
// job never exits with its Events still queued.
type KubeEvents struct {
	Client eventsclient.EventsV1Interface
	// Controller is the reporting controller, e.g. "akash-janitor/force-replicasets".
	Controller string
	// Instance is the reporting instance (the pod name).
	Instance string
	Now      func() time.Time
}

// Record writes one Event on the action's Regarding object (or its Target),
// and one on each of its Also objects.
func (k *KubeEvents) Record(ctx context.Context, a Action, outcome Outcome, detail string) error {
	on := a.Target
	if a.Regarding != nil {
		on = *a.Regarding
	}
	var errs []error
	for _, ref := range append([]Ref{on}, a.Also...) {
		if err := k.record(ctx, a, ref, outcome, detail); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (k *KubeEvents) record(ctx context.Context, a Action, on Ref, outcome Outcome, detail string) error {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	t := now()
	ns := on.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault // where Events on cluster-scoped objects go
	}
	eventType, note := corev1.EventTypeNormal, a.Message
	switch outcome {
	case Failed:
		eventType, note = corev1.EventTypeWarning, fmt.Sprintf("%s; failed: %s", a.Message, detail)
	case Found:
		eventType = corev1.EventTypeWarning
	}
	if len(note) > 1024 { // the API's limit on note
		note = note[:1021] + "..."
	}
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", on.Name, t.UnixNano()),
			Namespace: ns,
		},
		EventTime:           metav1.NewMicroTime(t),
		ReportingController: k.Controller,
		ReportingInstance:   k.Instance,
		Action:              a.Verb,
		Reason:              a.Reason,
		Type:                eventType,
		Note:                note,
		Regarding: corev1.ObjectReference{
			APIVersion: on.APIVersion,
			Kind:       on.Kind,
			Namespace:  on.Namespace,
			Name:       on.Name,
			UID:        types.UID(on.UID),
		},
	}
	if a.Lease != "" {
		ev.Annotations = map[string]string{LeaseAnnotation: a.Lease}
	}
	if on != a.Target {
		ev.Related = &corev1.ObjectReference{
			APIVersion: a.Target.APIVersion,
			Kind:       a.Target.Kind,
			Namespace:  a.Target.Namespace,
			Name:       a.Target.Name,
			UID:        types.UID(a.Target.UID),
		}
	}
	if _, err := k.Client.Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create event on %s: %w", on, err)
	}
	return nil
}
