package janitorctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// Status is what `kubectl janitor status` shows, and -o json|yaml prints.
type Status struct {
	Release    string            `json:"release"`
	Namespace  string            `json:"namespace"`
	Chart      string            `json:"chart,omitempty"`
	AppVersion string            `json:"appVersion,omitempty"`
	Components []ComponentStatus `json:"components"`
	// Pause is each pause switch the release's jobs read (one, unless a
	// job's args name another).
	Pause    []PauseStatus   `json:"pause,omitempty"`
	Blockers []BlockerStatus `json:"blockers,omitempty"`
	// CloseBudget is nil when no job of the release closes leases under a
	// daily budget.
	CloseBudget *CloseBudgetStatus `json:"closeBudget,omitempty"`
	// AdmissionPolicy is nil when the release renders none.
	AdmissionPolicy *AdmissionStatus `json:"admissionPolicy,omitempty"`
}

// ComponentStatus is one workload of the release.
type ComponentStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Object string `json:"object"`
	// Schedule is a CronJob's schedule, the zombie reaper's interval.
	Schedule  string `json:"schedule,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
	// DryRun is its --dry-run; nil for a component without one.
	DryRun       *bool      `json:"dryRun,omitempty"`
	LastSchedule *time.Time `json:"lastScheduleTime,omitempty"`
	LastSuccess  *time.Time `json:"lastSuccessfulTime,omitempty"`
	NewestJob    *JobStatus `json:"newestJob,omitempty"`
	// Ready is a DaemonSet's or Deployment's ready pods, "3/3".
	Ready string `json:"ready,omitempty"`
	// State is active, suspended, paused or blocked; Why says why when it
	// is not active.
	State string `json:"state"`
	Why   string `json:"why,omitempty"`
}

// JobStatus is the newest Job of a CronJob.
type JobStatus struct {
	Name string `json:"name"`
	// Result is running, succeeded or failed.
	Result   string     `json:"result"`
	Reason   string     `json:"reason,omitempty"`
	Created  time.Time  `json:"created"`
	Finished *time.Time `json:"finished,omitempty"`
	// Manual is a Job started by hand (kubectl janitor run, kubectl create
	// job --from), not by the schedule.
	Manual bool `json:"manual,omitempty"`
}

// PauseStatus is one pause switch.
type PauseStatus struct {
	// ConfigMap is namespace/name of the switch; empty when the jobs read
	// none (no --pause-namespace).
	ConfigMap string `json:"configMap,omitempty"`
	Paused    bool   `json:"paused"`
	// Chart is the chart's own switch, global.pause (--paused), which
	// only helm turns off.
	Chart  bool       `json:"globalPause,omitempty"`
	Reason string     `json:"reason,omitempty"`
	By     string     `json:"by,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	// Error is why the switch could not be read from here.
	Error      string   `json:"error,omitempty"`
	Components []string `json:"components"`
}

// BlockerStatus is one blocker the jobs ask before acting.
type BlockerStatus struct {
	// Kind is pod (that pod must be Ready) or prometheus (no alert
	// matching Alerts may fire).
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Alerts string `json:"alerts,omitempty"`
	// Holding is nil when it is not checked from here (Prometheus, which
	// the jobs reach inside the cluster).
	Holding    *bool    `json:"holding,omitempty"`
	Detail     string   `json:"detail"`
	Components []string `json:"components"`
}

// CloseBudgetStatus is the daily lease close budget (lib/closebudget).
type CloseBudgetStatus struct {
	ConfigMap string `json:"configMap"`
	PerDay    int    `json:"perDay"`
	Used      int    `json:"used"`
	Left      int    `json:"left"`
	// NextFree is when the oldest close of the window ages out.
	NextFree   *time.Time `json:"nextFree,omitempty"`
	Error      string     `json:"error,omitempty"`
	Components []string   `json:"components"`
}

// AdmissionStatus is the denied-images admission policy and the lists it
// reads (its params, an ImageDenylist the job writes).
type AdmissionStatus struct {
	Policy            string   `json:"policy"`
	ValidationActions []string `json:"validationActions,omitempty"`
	FailurePolicy     string   `json:"failurePolicy,omitempty"`
	Params            string   `json:"params,omitempty"`
	// Written is false until kill-lease-by-image has written the params
	// (its first run, or the chart's hook after install).
	Written bool     `json:"written"`
	Deny    []string `json:"deny"`
	Allow   []string `json:"allow"`
	Error   string   `json:"error,omitempty"`
}

// Component states.
const (
	StateActive    = "active"
	StateSuspended = "suspended"
	StatePaused    = "paused"
	StateBlocked   = "blocked"
)

// The data keys of the pause ConfigMap beside job.PauseReason, which is the
// only one the jobs read: who paused them and when, for status.
const (
	PausedBy = "by"
	PausedAt = "at"
)

// DefaultCloseBudgetConfigMap is lib/leaseclose's --close-budget-configmap
// default, what a job reads when its args name none.
const DefaultCloseBudgetConfigMap = "akash-services/akash-janitor-close-budget"

func (o *Options) statusCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every component of the release: schedule, last runs, pause, blockers, close budget, admission lists",
		Long: `status shows every component of an akash-janitor release (its CronJobs, the zombie-reaper
DaemonSet, the bid-price Deployment, found by the chart's labels): its schedule, its last
scheduled and last successful run and its newest Job, whether it runs dry, and whether it is
suspended, paused or blocked and why; then the pause switch, the blockers the jobs ask, the
daily lease close budget left, and the lists the denied-images admission policy enforces.`,
		Example: `  kubectl janitor status -n akash-services
  kubectl janitor status -n akash-services -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "", "json", "yaml"); err != nil {
				return err
			}
			st, err := o.Status(cmd.Context())
			if err != nil {
				return err
			}
			if output != "" {
				return printStructured(o.Streams.Out, output, st)
			}
			return st.Print(o.Streams.Out, o.now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml; empty: a table and a summary")
	return cmd
}

// Status reads the release's state: a LIST each of CronJobs, DaemonSets,
// Deployments and Jobs, a GET of each switch, blocker pod and record, and
// the admission policy's objects.
func (o *Options) Status(ctx context.Context) (*Status, error) {
	rel, err := o.release(ctx)
	if err != nil {
		return nil, err
	}
	c, err := o.Clients()
	if err != nil {
		return nil, err
	}
	st := &Status{Release: rel.Name, Namespace: rel.Namespace, Chart: rel.Chart, AppVersion: rel.AppVersion}
	newest, err := newestJobs(ctx, c, rel)
	if err != nil {
		return nil, err
	}
	st.Pause = pauseStatus(ctx, c, rel)
	st.Blockers = blockerStatus(ctx, c, rel)
	for _, comp := range rel.Components {
		cs := ComponentStatus{Name: comp.Name, Kind: comp.Kind, Object: comp.Object, State: StateActive}
		if v, ok := comp.setting("dry-run", true); ok {
			b, err := strconv.ParseBool(v)
			if err == nil {
				cs.DryRun = &b
			}
		}
		switch {
		case comp.CronJob != nil:
			cj := comp.CronJob
			cs.Schedule = cj.Spec.Schedule
			if cj.Spec.TimeZone != nil && *cj.Spec.TimeZone != "" {
				cs.Schedule += " (" + *cj.Spec.TimeZone + ")"
			}
			cs.Suspended = cj.Spec.Suspend != nil && *cj.Spec.Suspend
			cs.LastSchedule = timePtr(cj.Status.LastScheduleTime)
			cs.LastSuccess = timePtr(cj.Status.LastSuccessfulTime)
			cs.NewestJob = newest[string(cj.UID)]
		case comp.DaemonSet != nil:
			if v, ok := comp.setting("interval", false); ok {
				cs.Schedule = "every " + v
			}
			ds := comp.DaemonSet.Status
			cs.Ready = fmt.Sprintf("%d/%d", ds.NumberReady, ds.DesiredNumberScheduled)
		case comp.Deployment != nil:
			d := comp.Deployment
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			cs.Ready = fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want)
		}
		// The order the jobs decide in (lib/job: the pause first, then
		// the blockers); a suspended CronJob does not run at all.
		switch {
		case cs.Suspended:
			cs.State, cs.Why = StateSuspended, "runs only when started: kubectl janitor run "+comp.Name
		case pausedBy(st.Pause, comp.Name) != "":
			cs.State, cs.Why = StatePaused, pausedBy(st.Pause, comp.Name)
		case blockedBy(st.Blockers, comp.Name) != "":
			cs.State, cs.Why = StateBlocked, blockedBy(st.Blockers, comp.Name)
		}
		st.Components = append(st.Components, cs)
	}
	st.CloseBudget = closeBudgetStatus(ctx, c, rel, o.now())
	st.AdmissionPolicy = admissionStatus(ctx, c, rel)
	return st, nil
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.UTC()
	return &v
}

// newestJobs is the newest Job of each of the release's CronJobs, by the
// CronJob's UID: one LIST of the release's Jobs (the jobTemplate carries
// the chart's labels), each matched to its CronJob by owner reference.
func newestJobs(ctx context.Context, c *kube.Clients, rel *release) (map[string]*JobStatus, error) {
	sel := labels.Set{LabelPartOf: PartOf, LabelInstance: rel.Name}.String()
	jobs, err := kube.ListAll[batchv1.Job](ctx, 0, metav1.ListOptions{LabelSelector: sel}, c.Kube.BatchV1().Jobs(rel.Namespace).List)
	if err != nil {
		return nil, fmt.Errorf("list the Jobs of release %s in namespace %s: %w", rel.Name, rel.Namespace, err)
	}
	out := map[string]*JobStatus{}
	created := map[string]time.Time{}
	for i := range jobs {
		j := &jobs[i]
		owner := metav1.GetControllerOf(j)
		if owner == nil || owner.Kind != "CronJob" {
			continue
		}
		uid := string(owner.UID)
		if t, ok := created[uid]; ok && !j.CreationTimestamp.After(t) {
			continue
		}
		created[uid] = j.CreationTimestamp.Time
		out[uid] = jobStatus(j)
	}
	return out, nil
}

// jobStatus reads a Job's outcome from its conditions, as the Job
// controller sets them (Complete, or Failed with a reason such as
// BackoffLimitExceeded or DeadlineExceeded).
func jobStatus(j *batchv1.Job) *JobStatus {
	js := &JobStatus{Name: j.Name, Result: "running", Created: j.CreationTimestamp.UTC(),
		Manual: j.Annotations[AnnotationInstantiate] == "manual"}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			js.Result = "succeeded"
		case batchv1.JobFailed:
			js.Result, js.Reason = "failed", c.Reason
		default:
			continue
		}
		js.Finished = timePtr(&c.LastTransitionTime)
		if j.Status.CompletionTime != nil {
			js.Finished = timePtr(j.Status.CompletionTime)
		}
	}
	return js
}

// pauseSwitch is where one component reads the pause switch.
type pauseSwitch struct {
	Namespace, ConfigMap string
	Paused               bool // --paused, the chart's global.pause
}

// pausable are the components that honour the pause (the chart gives
// those, and only those, the pause switch's settings), with the switch
// each reads: lib/job's flags --paused, --pause-namespace and
// --pause-configmap, and their defaults.
func pausable(rel *release) map[string]pauseSwitch {
	out := map[string]pauseSwitch{}
	for _, comp := range rel.Components {
		ns, hasNS := comp.setting("pause-namespace", false)
		name, hasName := comp.setting("pause-configmap", false)
		paused, hasPaused := comp.setting("paused", true)
		if !hasNS && !hasName && !hasPaused {
			continue
		}
		if !hasName {
			name = "akash-janitor-pause" // lib/job's --pause-configmap default
		}
		p, _ := strconv.ParseBool(paused)
		out[comp.Name] = pauseSwitch{Namespace: ns, ConfigMap: name, Paused: p}
	}
	return out
}

// switches are the distinct ConfigMaps the release's jobs read, each with
// the components reading it, in order.
func switches(rel *release) ([]pauseSwitch, map[pauseSwitch][]string) {
	readers := map[pauseSwitch][]string{}
	var order []pauseSwitch
	for comp, sw := range pausable(rel) {
		key := pauseSwitch{Namespace: sw.Namespace, ConfigMap: sw.ConfigMap}
		if sw.Namespace == "" {
			continue // the job reads no ConfigMap (lib/job: no namespace, no switch)
		}
		if _, ok := readers[key]; !ok {
			order = append(order, key)
		}
		readers[key] = append(readers[key], comp)
	}
	sort.Slice(order, func(i, j int) bool {
		return order[i].Namespace+"/"+order[i].ConfigMap < order[j].Namespace+"/"+order[j].ConfigMap
	})
	for _, k := range order {
		sort.Strings(readers[k])
	}
	return order, readers
}

func pauseStatus(ctx context.Context, c *kube.Clients, rel *release) []PauseStatus {
	var out []PauseStatus
	var chart []string
	for comp, sw := range pausable(rel) {
		if sw.Paused {
			chart = append(chart, comp)
		}
	}
	if len(chart) > 0 {
		sort.Strings(chart)
		out = append(out, PauseStatus{Paused: true, Chart: true, Reason: "--paused is set (the chart's global.pause)", Components: chart})
	}
	order, readers := switches(rel)
	for _, sw := range order {
		ps := PauseStatus{ConfigMap: sw.Namespace + "/" + sw.ConfigMap, Components: readers[sw]}
		cm, err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Get(ctx, sw.ConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			ps.Error = fmt.Sprintf("cannot be read from here: %v (a job that cannot read it holds every action)", err)
		default:
			ps.Paused = true
			ps.Reason, ps.By, ps.Since = pauseRecord(cm)
		}
		out = append(out, ps)
	}
	return out
}

// pauseRecord reads why, by whom and since when a switch is on: the reason
// as the jobs read it (lib/job: "no reason given" when empty), who and when
// as pause wrote them, else when the ConfigMap was made.
func pauseRecord(cm *corev1.ConfigMap) (reason, by string, since *time.Time) {
	reason = strings.TrimSpace(cm.Data[pauseReasonKey])
	if reason == "" {
		reason = "no reason given"
	}
	by = cm.Data[PausedBy]
	if t, err := time.Parse(time.RFC3339, cm.Data[PausedAt]); err == nil {
		t = t.UTC()
		since = &t
	} else {
		since = timePtr(&cm.CreationTimestamp)
	}
	return reason, by, since
}

// pausedBy says why a component is paused, "" if it is not.
func pausedBy(ps []PauseStatus, comp string) string {
	for _, p := range ps {
		if !slices.Contains(p.Components, comp) {
			continue
		}
		switch {
		case p.Chart:
			return p.Reason
		case p.Paused:
			return fmt.Sprintf("ConfigMap %s is there (%s)", p.ConfigMap, p.Reason)
		case p.Error != "":
			return fmt.Sprintf("ConfigMap %s %s", p.ConfigMap, p.Error)
		}
	}
	return ""
}

func blockedBy(bs []BlockerStatus, comp string) string {
	for _, b := range bs {
		if b.Holding != nil && *b.Holding && slices.Contains(b.Components, comp) {
			return b.Detail
		}
	}
	return ""
}

// blockerStatus checks the blockers the jobs ask (lib/job's Blockers):
// the pod that must be Ready, here as there; the Prometheus alerts are
// named, not asked (the jobs reach Prometheus inside the cluster).
func blockerStatus(ctx context.Context, c *kube.Clients, rel *release) []BlockerStatus {
	pods := map[string][]string{}
	proms := map[[2]string][]string{}
	for _, comp := range rel.Components {
		if pod, ok := comp.setting("require-ready-pod", false); ok && pod != "" {
			pods[pod] = append(pods[pod], comp.Name)
		}
		url, _ := comp.setting("prometheus-url", false)
		alerts, _ := comp.setting("blocking-alerts", false)
		if url != "" && strings.TrimSpace(alerts) != "" {
			k := [2]string{url, alerts}
			proms[k] = append(proms[k], comp.Name)
		}
	}
	var out []BlockerStatus
	for pod, comps := range pods {
		sort.Strings(comps)
		holding, detail := podReady(ctx, c, pod)
		out = append(out, BlockerStatus{Kind: "pod", Target: pod, Holding: &holding, Detail: detail, Components: comps})
	}
	for k, comps := range proms {
		sort.Strings(comps)
		out = append(out, BlockerStatus{Kind: "prometheus", Target: k[0], Alerts: k[1], Components: comps,
			Detail: fmt.Sprintf("the jobs hold while an alert matching {%s} fires there (asked by the jobs each run, not from here)", k[1])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Target < out[j].Kind+out[j].Target })
	return out
}

// podReady answers as lib/job's blocker does: a pod that is missing, being
// deleted, not Ready or cannot be read holds the jobs.
func podReady(ctx context.Context, c *kube.Clients, ref string) (holding bool, detail string) {
	ns, name, err := kube.SplitNamespaced(ref)
	if err != nil {
		return true, fmt.Sprintf("%q is no namespace/name: the jobs refuse to start", ref)
	}
	pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, fmt.Sprintf("pod %s, which must be Ready for the jobs to act, is not there", ref)
	case err != nil:
		return true, fmt.Sprintf("pod %s cannot be read from here: %v", ref, err)
	case pod.DeletionTimestamp != nil:
		return true, fmt.Sprintf("pod %s is being deleted", ref)
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != corev1.PodReady {
			continue
		}
		if cond.Status == corev1.ConditionTrue {
			return false, fmt.Sprintf("pod %s is Ready", ref)
		}
		why := strings.Trim(cond.Reason+": "+cond.Message, ": ")
		if why == "" {
			why = "no reason given"
		}
		return true, fmt.Sprintf("pod %s is not Ready (%s, since %s)", ref, why, cond.LastTransitionTime.UTC().Format(time.RFC3339))
	}
	return true, fmt.Sprintf("pod %s is not Ready (phase %s, no Ready condition yet)", ref, pod.Status.Phase)
}

// closeBudgetStatus reads the daily close budget where the jobs keep it:
// the limit from their --max-closes-per-day (the chart's
// provider.closeBudget), the record ConfigMap from
// --close-budget-configmap, read as lib/closebudget reads it (a JSON list
// of closes; those of the last 24 hours count).
func closeBudgetStatus(ctx context.Context, c *kube.Clients, rel *release, now time.Time) *CloseBudgetStatus {
	var st *CloseBudgetStatus
	for _, comp := range rel.Components {
		v, ok := comp.setting("max-closes-per-day", false)
		perDay, err := strconv.Atoi(v)
		if !ok || err != nil || perDay <= 0 {
			continue
		}
		ref, ok := comp.setting("close-budget-configmap", false)
		if !ok {
			ref = DefaultCloseBudgetConfigMap
		}
		if st == nil {
			st = &CloseBudgetStatus{ConfigMap: ref, PerDay: perDay}
		}
		st.Components = append(st.Components, comp.Name)
	}
	if st == nil {
		return nil
	}
	sort.Strings(st.Components)
	ns, name, err := kube.SplitNamespaced(st.ConfigMap)
	if err != nil {
		st.Error = fmt.Sprintf("%q is no namespace/name", st.ConfigMap)
		return st
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		st.Error = "the record is missing, so the jobs close no lease (helm upgrade makes it again)"
		return st
	case err != nil:
		st.Error = fmt.Sprintf("the record cannot be read from here: %v", err)
		return st
	}
	var closes []closebudget.Close
	if raw := strings.TrimSpace(cm.Data[closebudget.Key]); raw != "" {
		if err := json.Unmarshal([]byte(raw), &closes); err != nil {
			st.Error = fmt.Sprintf("key %q is not a JSON list of closes (%v), so the jobs close no lease; delete the key to start the count again", closebudget.Key, err)
			return st
		}
	}
	since := now.Add(-closebudget.Window)
	for _, cl := range closes {
		if !cl.At.After(since) {
			continue
		}
		st.Used++
		free := cl.At.Add(closebudget.Window).UTC()
		if st.NextFree == nil || free.Before(*st.NextFree) {
			st.NextFree = &free
		}
	}
	st.Left = max(st.PerDay-st.Used, 0)
	return st
}

var (
	denyEntry  = regexp.MustCompile(`^deny\.[0-9]+\.entry$`)
	allowEntry = regexp.MustCompile(`^allow\.[0-9]+\.entry$`)
)

// admissionStatus finds the release's ValidatingAdmissionPolicy (by the
// chart's labels, its binding's params in the release's namespace) and
// reads the lists from its params as the policy reads them
// (lib/imagematch AdmissionParams: deny.NNNN.entry, allow.NNNN.entry).
func admissionStatus(ctx context.Context, c *kube.Clients, rel *release) *AdmissionStatus {
	sel := metav1.ListOptions{LabelSelector: labels.Set{LabelPartOf: PartOf, LabelInstance: rel.Name}.String()}
	bindings, err := c.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, sel)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil // a cluster before 1.30 serves none
		}
		return &AdmissionStatus{Error: fmt.Sprintf("cannot list ValidatingAdmissionPolicyBindings: %v", err)}
	}
	for _, b := range bindings.Items {
		ref := b.Spec.ParamRef
		if ref == nil || ref.Namespace != rel.Namespace {
			continue // another namespace's release of the same name
		}
		st := &AdmissionStatus{Policy: b.Spec.PolicyName, Params: ref.Namespace + "/" + ref.Name, Deny: []string{}, Allow: []string{}}
		for _, a := range b.Spec.ValidationActions {
			st.ValidationActions = append(st.ValidationActions, string(a))
		}
		if p, err := c.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, b.Spec.PolicyName, metav1.GetOptions{}); err == nil && p.Spec.FailurePolicy != nil {
			st.FailurePolicy = string(*p.Spec.FailurePolicy)
		}
		data, err := admissionparams.Read(ctx, c.Dynamic, ref.Namespace, ref.Name)
		switch {
		case apierrors.IsNotFound(err):
			return st
		case err != nil:
			st.Error = fmt.Sprintf("%s %s cannot be read: %v", admissionparams.Kind, st.Params, err)
			return st
		}
		st.Written = true
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys) // NNNN is zero-padded: the lists' order
		for _, k := range keys {
			switch {
			case denyEntry.MatchString(k):
				st.Deny = append(st.Deny, data[k])
			case allowEntry.MatchString(k):
				st.Allow = append(st.Allow, data[k])
			}
		}
		return st
	}
	return nil
}

// Print writes the status as an operator reads it: a table of the
// components, then the switches, blockers, budget and admission lists.
func (st *Status) Print(out io.Writer, now time.Time) error {
	head := fmt.Sprintf("Release %s in namespace %s", st.Release, st.Namespace)
	if st.Chart != "" {
		head += fmt.Sprintf(" (chart %s", st.Chart)
		if st.AppVersion != "" {
			head += ", app " + st.AppVersion
		}
		head += ")"
	}
	fmt.Fprintf(out, "%s\n\n", head)
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w, "COMPONENT\tKIND\tSCHEDULE\tLAST SCHEDULE\tLAST SUCCESS\tNEWEST JOB\tREADY\tMODE\tSTATE")
	for _, c := range st.Components {
		mode := "-"
		if c.DryRun != nil {
			mode = map[bool]string{true: "dry-run", false: "live"}[*c.DryRun]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Kind, or(c.Schedule, "-"),
			age(c.LastSchedule, now), age(c.LastSuccess, now), newestJob(c.NewestJob, now), or(c.Ready, "-"), mode, c.State)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, c := range st.Components {
		if c.Why != "" {
			fmt.Fprintf(out, "%s is %s: %s\n", c.Name, c.State, c.Why)
		}
		if c.NewestJob != nil && c.NewestJob.Result == "failed" {
			fmt.Fprintf(out, "%s: its newest Job %s failed (%s): kubectl -n %s logs job/%s\n", c.Name, c.NewestJob.Name, or(c.NewestJob.Reason, "no reason given"), st.Namespace, c.NewestJob.Name)
		}
	}

	label := func(s string) string { return fmt.Sprintf("%-15s", s) }
	if len(st.Pause) == 0 {
		fmt.Fprintf(out, "%sno component of this release reads a pause switch\n", label("Pause:"))
	}
	for _, p := range st.Pause {
		switch {
		case p.Chart:
			fmt.Fprintf(out, "%sPAUSED by the chart: global.pause=true (--paused) holds %s; helm upgrade %s ... --set global.pause=false resumes them\n",
				label("Pause:"), strings.Join(p.Components, ", "), st.Release)
		case p.Error != "":
			fmt.Fprintf(out, "%sConfigMap %s %s\n", label("Pause:"), p.ConfigMap, p.Error)
		case p.Paused:
			who := ""
			if p.By != "" {
				who = " by " + p.By
			}
			when := ""
			if p.Since != nil {
				when = fmt.Sprintf(" since %s (%s ago)", p.Since.Format(time.RFC3339), duration.HumanDuration(now.Sub(*p.Since)))
			}
			fmt.Fprintf(out, "%sPAUSED%s%s: %q (ConfigMap %s); kubectl janitor resume lets the jobs act\n", label("Pause:"), who, when, p.Reason, p.ConfigMap)
		default:
			fmt.Fprintf(out, "%soff: no ConfigMap %s, the jobs act (kubectl janitor pause --reason ... holds them)\n", label("Pause:"), p.ConfigMap)
		}
		fmt.Fprintf(out, "%s  read by %s\n", label(""), strings.Join(p.Components, ", "))
	}
	for i, b := range st.Blockers {
		l := label("")
		if i == 0 {
			l = label("Blockers:")
		}
		switch {
		case b.Holding == nil:
			fmt.Fprintf(out, "%sPrometheus %s: %s\n", l, b.Target, b.Detail)
		case *b.Holding:
			fmt.Fprintf(out, "%sBLOCKING: %s\n", l, b.Detail)
		default:
			fmt.Fprintf(out, "%s%s\n", l, b.Detail)
		}
		fmt.Fprintf(out, "%s  asked by %s\n", label(""), strings.Join(b.Components, ", "))
	}
	if len(st.Blockers) == 0 {
		fmt.Fprintf(out, "%snone\n", label("Blockers:"))
	}
	switch b := st.CloseBudget; {
	case b == nil:
		fmt.Fprintf(out, "%snone (no job of this release closes leases under a daily budget: provider.closeBudget=0, or no closer)\n", label("Close budget:"))
	case b.Error != "":
		fmt.Fprintf(out, "%s%d a day, ConfigMap %s: %s\n", label("Close budget:"), b.PerDay, b.ConfigMap, b.Error)
	default:
		next := ""
		if b.NextFree != nil {
			next = fmt.Sprintf("; the oldest ages out in %s", duration.HumanDuration(b.NextFree.Sub(now)))
		}
		fmt.Fprintf(out, "%s%d of %d lease closes left (%d used in the last 24h, ConfigMap %s)%s\n", label("Close budget:"), b.Left, b.PerDay, b.Used, b.ConfigMap, next)
	}
	switch a := st.AdmissionPolicy; {
	case a == nil:
		fmt.Fprintf(out, "%soff (no denied-images policy: killLeaseByImage.denylist is empty, or admissionPolicy.enabled=false)\n", label("Admission:"))
	case a.Policy == "":
		fmt.Fprintf(out, "%s%s\n", label("Admission:"), a.Error)
	default:
		fmt.Fprintf(out, "%sValidatingAdmissionPolicy %s, actions [%s], failurePolicy %s\n", label("Admission:"), a.Policy, strings.Join(a.ValidationActions, " "), or(a.FailurePolicy, "-"))
		switch {
		case a.Error != "":
			fmt.Fprintf(out, "%s%s\n", label(""), a.Error)
		case !a.Written:
			fmt.Fprintf(out, "%sparams %s %s not written yet: the policy admits every pod until kill-lease-by-image runs\n", label(""), admissionparams.Kind, a.Params)
		default:
			fmt.Fprintf(out, "%sparams %s %s: %d denied, %d allowed\n", label(""), admissionparams.Kind, a.Params, len(a.Deny), len(a.Allow))
			for _, d := range a.Deny {
				fmt.Fprintf(out, "%s  deny   %s\n", label(""), d)
			}
			for _, d := range a.Allow {
				fmt.Fprintf(out, "%s  allow  %s\n", label(""), d)
			}
		}
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// age is kubectl's age of a time ("35s", "5m12s"), "-" for none.
func age(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return duration.HumanDuration(now.Sub(*t))
}

func newestJob(j *JobStatus, now time.Time) string {
	if j == nil {
		return "-"
	}
	s := j.Result + " " + duration.HumanDuration(now.Sub(j.Created)) + " ago"
	if j.Manual {
		s += " (manual)"
	}
	return s
}
