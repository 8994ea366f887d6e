package janitorctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// ControllerPrefix begins the reportingController of every Event a janitor
// job records: lib/job gives its actuator's KubeEvents the controller
// "akash-janitor.akash.network/<job>".
const ControllerPrefix = "akash-janitor.akash.network/"

// failedNote is how lib/actuator's KubeEvents writes a failed action's
// note: "<message>; failed: <detail>", on a Warning Event.
const failedNote = "; failed: "

// Outcomes of a reported action, read back from its Event as lib/actuator
// records them: a Normal Event is an action done, a Warning one an action
// failed (its note says so) or a finding of a job that only reports.
const (
	OutcomeDone   = "done"
	OutcomeFailed = "failed"
	OutcomeFound  = "found"
)

// Report is what `kubectl janitor report` prints.
type Report struct {
	// Since is the start of the window (--since before now); zero for
	// every Event the API server holds.
	Since *time.Time    `json:"since,omitempty"`
	Items []ReportEntry `json:"items"`
}

// ReportEntry is one action, as its Event records it.
type ReportEntry struct {
	Time time.Time `json:"time"`
	Job  string    `json:"job"`
	// Action is the action's verb (the Event's action): close-lease,
	// teardown-lease, delete-replicaset...
	Action string `json:"action"`
	// Object is the object the Event is on, as the jobs' audit lines name
	// it: Kind/namespace/name (Kind/name when cluster-scoped).
	Object string `json:"object"`
	// Lease is the lease ID, read from the provider's lease labels of the
	// object's namespace or Manifest while they exist; empty when the
	// Event is on no lease's object or its objects are gone.
	Lease   string `json:"lease,omitempty"`
	Outcome string `json:"outcome"`
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Note    string `json:"note"`
	// Related is the Event's related object (the object acted on, when
	// the Event is recorded on another).
	Related  string `json:"related,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Event is namespace/name of the Event itself.
	Event string `json:"event"`
}

func (o *Options) reportCommand() *cobra.Command {
	var (
		output string
		since  time.Duration
		job    string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "What the janitor did: the actions its jobs recorded as Kubernetes Events",
		Long: `report lists what the janitor's jobs did, from the Kubernetes Events they record on each
object they act on (reportingController akash-janitor.akash.network/<job>), in every
namespace, oldest first: the action, its object and lease, its outcome and reason.

Outcomes: done (a Normal Event), failed (a Warning whose note says "failed"), found (a
Warning of a job that reports rather than acts). A dry run, a paused or blocked run, and an
action skipped record no Event: the jobs' logs have those.

Events are not kept for ever: the API server deletes them after its --event-ttl (1 hour by
default; providers often raise it). What is older is in the jobs' logs and pushed metrics.
Events are not per release: report shows what every akash-janitor job in the cluster recorded.`,
		Example: `  kubectl janitor report
  kubectl janitor report --since 6h --job dangling-deployments
  kubectl janitor report -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "", "wide", "json", "yaml"); err != nil {
				return err
			}
			if since < 0 {
				return badInput("--since=%s: must be 0 (everything) or more", since)
			}
			rep, err := o.Report(cmd.Context(), since, job)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return printStructured(o.Streams.Out, output, rep)
			}
			if len(rep.Items) == 0 {
				what := "akash-janitor Events"
				if job != "" {
					what = job + " Events"
				}
				window := ""
				if rep.Since != nil {
					window = " since " + rep.Since.Format(time.RFC3339)
				}
				fmt.Fprintf(o.Streams.ErrOut, "No %s%s (the API server keeps Events for its --event-ttl, 1h by default).\n", what, window)
				return nil
			}
			return rep.Print(o.Streams.Out, output == "wide")
		},
	}
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "only Events of this last duration (5m, 6h); 0: every one the API server holds")
	cmd.Flags().StringVar(&job, "job", "", "only this job's Events (dangling-deployments); empty: every job's")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide (with each Event's note), json or yaml; empty: a table")
	return cmd
}

// Report reads the janitor's Events (one cluster-wide paginated LIST) and,
// when some are on a lease's objects, the lease labels of the tenant
// namespaces and Manifests (a metadata-only LIST each).
func (o *Options) Report(ctx context.Context, since time.Duration, job string) (*Report, error) {
	c, err := o.Clients()
	if err != nil {
		return nil, err
	}
	rep := &Report{Items: []ReportEntry{}}
	if since > 0 {
		from := o.now().Add(-since).UTC()
		rep.Since = &from
	}
	var events []eventsv1.Event
	err = kube.Each(ctx, 0, metav1.ListOptions{}, c.Kube.EventsV1().Events("").List, func(e *eventsv1.Event) error {
		if !strings.HasPrefix(e.ReportingController, ControllerPrefix) {
			return nil
		}
		if job != "" && strings.TrimPrefix(e.ReportingController, ControllerPrefix) != job {
			return nil
		}
		if rep.Since != nil && eventTime(e).Before(*rep.Since) {
			return nil
		}
		events = append(events, *e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Events in every namespace: %w", err)
	}
	leases := leaseIndex(ctx, c, events)
	for i := range events {
		rep.Items = append(rep.Items, entry(&events[i], leases))
	}
	sort.SliceStable(rep.Items, func(i, j int) bool { return rep.Items[i].Time.Before(rep.Items[j].Time) })
	return rep, nil
}

// eventTime is when the Event happened: its eventTime (what
// lib/actuator sets), else the older fields a core/v1 writer sets.
func eventTime(e *eventsv1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.UTC()
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.UTC()
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.UTC()
	}
	return e.CreationTimestamp.UTC()
}

// entry reads one Event as lib/actuator's KubeEvents wrote it.
func entry(e *eventsv1.Event, leases map[string]string) ReportEntry {
	r := ReportEntry{
		Time:     eventTime(e),
		Job:      strings.TrimPrefix(e.ReportingController, ControllerPrefix),
		Action:   e.Action,
		Object:   ref(e.Regarding),
		Type:     e.Type,
		Reason:   e.Reason,
		Note:     e.Note,
		Instance: e.ReportingInstance,
		Event:    e.Namespace + "/" + e.Name,
		Outcome:  outcome(e.Type, e.Note),
	}
	if e.Related != nil {
		r.Related = ref(*e.Related)
	}
	r.Lease = e.Annotations[actuator.LeaseAnnotation]
	if r.Lease == "" {
		// Events recorded before the jobs annotated them: the lease of the
		// object's namespace, while it is there.
		r.Lease = leases[leaseNamespace(e.Regarding)]
	}
	if r.Lease == "" && e.Related != nil {
		r.Lease = leases[leaseNamespace(*e.Related)]
	}
	return r
}

func outcome(eventType, note string) string {
	switch {
	case eventType != corev1.EventTypeWarning:
		return OutcomeDone
	case strings.Contains(note, failedNote):
		return OutcomeFailed
	}
	return OutcomeFound
}

func ref(o corev1.ObjectReference) string {
	return actuator.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}.String()
}

// leaseNamespace is the lease namespace an object belongs to: a Namespace
// (the jobs act on a lease by its namespace), a Manifest (named after the
// lease namespace) or an object in a namespace; "" for a cluster-scoped
// object.
func leaseNamespace(o corev1.ObjectReference) string {
	switch {
	case o.Kind == "Namespace" && o.Namespace == "":
		return o.Name
	case o.Kind == "Manifest":
		return o.Name
	}
	return o.Namespace
}

// leaseIndex maps lease namespaces to lease IDs from the provider's lease
// labels on tenant namespaces and Manifests, for Events recorded without
// the lease annotation (before the jobs wrote it); a lease torn down since
// has neither, and its entry shows none. A listing that fails (a cluster without the
// Akash CRDs, an operator who may not list them) loses only that.
func leaseIndex(ctx context.Context, c *kube.Clients, events []eventsv1.Event) map[string]string {
	out := map[string]string{}
	if len(events) == 0 {
		return out
	}
	sel := metav1.ListOptions{LabelSelector: akash.LabelLeaseDSeq}
	add := func(m *metav1.PartialObjectMetadata) error {
		id, err := akash.LeaseIDFromLabels(m.Labels)
		if err != nil {
			return nil
		}
		ns := m.Labels[akash.LabelNamespace]
		if ns == "" {
			ns = id.Namespace()
		}
		out[ns] = id.String()
		return nil
	}
	_ = kube.EachMetadata(ctx, c.Metadata, corev1.SchemeGroupVersion.WithResource("namespaces"), "", 0, sel, add)
	_ = kube.EachMetadata(ctx, c.Metadata, akash.GroupVersion.WithResource("manifests"), "", 0, sel, add)
	return out
}

// Print writes the report as a table, oldest first.
func (r *Report) Print(out io.Writer, wide bool) error {
	w := printers.GetNewTabWriter(out)
	head := "TIME\tJOB\tACTION\tOBJECT\tLEASE\tOUTCOME\tREASON"
	if wide {
		head += "\tNOTE"
	}
	fmt.Fprintln(w, head)
	for _, e := range r.Items {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", e.Time.Format(time.RFC3339), e.Job, or(e.Action, "-"), e.Object, or(e.Lease, "-"), e.Outcome, or(e.Reason, "-"))
		if wide {
			line += "\t" + e.Note
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}
