// Package providerrestart restarts the akash-provider as the runbook does
// by hand: it deletes the provider's pod, which its StatefulSet starts
// again, without touching running workloads. The provider keeps in memory
// what it read from the Manifest CRs when it started (its deployment
// managers and inventory reservations: provider cluster/service.go,
// cluster/inventory.go) and reads a Manifest again only on a tenant's
// deploy, so a lease torn down by anyone else, or a Manifest patched,
// takes effect only when it restarts. Every job that needs it restarts it
// through here: at most once per cool-down, kept in one ConfigMap that
// all of them share, so two jobs never bounce the provider twice in an
// hour.
package providerrestart

import (
	"context"
	"flag"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// Verb is the restart's action, in the audit line's action field.
const Verb = "restart-provider"

// DefaultRecord is the cool-down record the chart makes (for its default
// release name).
const DefaultRecord = "akash-services/akash-janitor-provider-restart"

// Flags are the restart's flags, the same in every job that restarts.
type Flags struct {
	Pod      string
	Cooldown time.Duration
	Record   string
}

// Register adds --restart-pod, --restart-cooldown and
// --restart-record-configmap.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Pod, "restart-pod", "akash-services/akash-provider-0", "namespace/name of the provider's pod, which a restart deletes (its StatefulSet starts it again)")
	fs.DurationVar(&f.Cooldown, "restart-cooldown", time.Hour, "least time between two restarts of the provider, by any run of any job")
	fs.StringVar(&f.Record, "restart-record-configmap", DefaultRecord, "namespace/name of the ConfigMap that records the last restart, shared by the jobs that restart (it must exist)")
}

// Validate checks the flags.
func (f *Flags) Validate() error {
	if _, _, err := kube.SplitNamespaced(f.Pod); err != nil {
		return fmt.Errorf("--restart-pod=%q: %v", f.Pod, err)
	}
	if f.Cooldown <= 0 {
		return fmt.Errorf("--restart-cooldown=%s: must be positive", f.Cooldown)
	}
	if _, _, err := kube.SplitNamespaced(f.Record); err != nil {
		return fmt.Errorf("--restart-record-configmap=%q: %v", f.Record, err)
	}
	return nil
}

// Restarter restarts one provider.
type Restarter struct {
	Kube   kubernetes.Interface
	Pod    actuator.Ref
	Record *cooldown.Record
}

// New builds the restarter of the flags for job.
func (f *Flags) New(client kubernetes.Interface, job string, now func() time.Time) (*Restarter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	ns, name, _ := kube.SplitNamespaced(f.Pod)
	rns, rname, _ := kube.SplitNamespaced(f.Record)
	return &Restarter{Kube: client, Pod: actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name},
		Record: &cooldown.Record{Client: client, Namespace: rns, Name: rname, Period: f.Cooldown, Flag: "--restart-cooldown", Job: job, Now: now}}, nil
}

// Hand is the command an operator restarts the provider with.
func (r *Restarter) Hand() string {
	return fmt.Sprintf("kubectl -n %s delete pod %s", r.Pod.Namespace, r.Pod.Name)
}

// Action is a restart for reason, with the message that says why; it has
// a limit of its own (actuator.Action.OwnLimit), not the run's budget.
func (r *Restarter) Action(reason, message string, payload any) actuator.Action {
	return actuator.Action{Verb: Verb, Target: r.Pod, Reason: reason, Message: message,
		OwnLimit: "at most one a run and one per --restart-cooldown", Payload: payload}
}

// Restart deletes the provider's pod, after its own last look: the pod is
// there and not being deleted, a controller starts it again, and the
// cool-down allows it (and is taken). A restart held or moot is an
// actuator.Skip with why.
func (r *Restarter) Restart(ctx context.Context, reason string) error {
	pods := r.Kube.CoreV1().Pods(r.Pod.Namespace)
	pod, err := pods.Get(ctx, r.Pod.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("pod %s/%s is not there: nothing to restart (--restart-pod)", r.Pod.Namespace, r.Pod.Name)
	case err != nil:
		return fmt.Errorf("read pod %s/%s (nothing done): %w", r.Pod.Namespace, r.Pod.Name, err)
	case pod.DeletionTimestamp != nil:
		return actuator.Skip("pod %s/%s is being deleted already", r.Pod.Namespace, r.Pod.Name)
	}
	if owner := metav1.GetControllerOf(pod); owner == nil {
		return fmt.Errorf("pod %s/%s has no controller to start it again: deleting it would stop the provider for good; restart it by hand", r.Pod.Namespace, r.Pod.Name)
	}
	// Taken before the delete: a delete that then fails leaves the
	// cool-down spent, erring on the side of fewer restarts.
	if held, err := r.Record.Take(ctx, fmt.Sprintf("restart %s/%s (%s)", r.Pod.Namespace, r.Pod.Name, reason)); err != nil {
		return err
	} else if held != "" {
		return actuator.Skip("%s", held)
	}
	uid := pod.UID
	err = pods.Delete(ctx, r.Pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case apierrors.IsNotFound(err):
		return actuator.Skip("pod %s/%s went away meanwhile", r.Pod.Namespace, r.Pod.Name)
	case apierrors.IsConflict(err):
		return actuator.Skip("pod %s/%s was replaced meanwhile", r.Pod.Namespace, r.Pod.Name)
	case err != nil:
		return fmt.Errorf("delete pod %s/%s: %w", r.Pod.Namespace, r.Pod.Name, err)
	}
	return nil
}
