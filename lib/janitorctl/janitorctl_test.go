package janitorctl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/akash-janitor/akash-janitor/lib/job"
)

func cronJob(args ...string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-force-replicasets", Namespace: "akash-services", UID: "cj-uid"},
		Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{
				Labels:      map[string]string{LabelComponent: "force-replicasets", LabelInstance: "akash-janitor"},
				Annotations: map[string]string{"example.com/note": "kept"},
			},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "copy-cli", Args: []string{"--install-to=/cli"}},
				{Name: "force-replicasets", Args: args},
			}}}},
		}},
	}
}

// The Job is the one kubectl create job --from=cronjob makes, its
// --dry-run set as asked and the CronJob left as it was.
func TestManualJob(t *testing.T) {
	cj := cronJob("--dry-run=false", "--max-actions=10", "--dry-run")
	yes := true
	j, err := ManualJob(cj, "", "force-replicasets", &yes)
	require.NoError(t, err)
	assert.Equal(t, "akash-janitor-force-replicasets-manual-", j.GenerateName)
	assert.Empty(t, j.Name)
	assert.Equal(t, "akash-services", j.Namespace)
	assert.Equal(t, map[string]string{AnnotationInstantiate: "manual", "example.com/note": "kept"}, j.Annotations)
	assert.Equal(t, cj.Spec.JobTemplate.Labels, j.Labels)
	require.Len(t, j.OwnerReferences, 1)
	owner := j.OwnerReferences[0]
	assert.Equal(t, metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: "cj-uid", Controller: &yes}, owner,
		"controller, without blockOwnerDeletion, as kubectl sets it")
	assert.Equal(t, []string{"--dry-run=true", "--max-actions=10"}, j.Spec.Template.Spec.Containers[1].Args, "one --dry-run, where the first was")
	assert.Equal(t, []string{"--install-to=/cli"}, j.Spec.Template.Spec.Containers[0].Args, "a container without --dry-run is left alone")
	assert.Equal(t, []string{"--dry-run=false", "--max-actions=10", "--dry-run"}, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[1].Args, "the CronJob is not changed")

	j, err = ManualJob(cj, "now", "force-replicasets", nil)
	require.NoError(t, err)
	assert.Equal(t, "now", j.Name)
	assert.Empty(t, j.GenerateName)
	assert.Equal(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[1].Args, j.Spec.Template.Spec.Containers[1].Args, "no --dry-run asked: as the CronJob runs it")

	no := false
	j, err = ManualJob(cronJob("--max-actions=1"), "", "force-replicasets", &no)
	require.NoError(t, err)
	assert.Equal(t, []string{"--max-actions=1", "--dry-run=false"}, j.Spec.Template.Spec.Containers[1].Args, "none given: the job's own container gets it")
}

func TestArgValue(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		flag    string
		boolean bool
		want    string
		ok      bool
	}{
		{[]string{"--dry-run=true"}, "dry-run", true, "true", true},
		{[]string{"--dry-run"}, "dry-run", true, "true", true},
		{[]string{"--dry-run=false", "--dry-run"}, "dry-run", true, "true", true},
		{[]string{"--dry-run", "--max-actions=1"}, "dry-run", true, "true", true},
		{[]string{"--pause-namespace", "ops"}, "pause-namespace", false, "ops", true},
		{[]string{"--pause-namespace=a", "--pause-namespace=b"}, "pause-namespace", false, "b", true},
		{[]string{"--dry-run-x=1"}, "dry-run", true, "", false},
		{nil, "paused", true, "", false},
	} {
		got, ok := argValue(tc.args, tc.flag, tc.boolean)
		assert.Equal(t, tc.ok, ok, "%v %s", tc.args, tc.flag)
		assert.Equal(t, tc.want, got, "%v %s", tc.args, tc.flag)
	}
}

// A job reads its flag from its args, else from its environment, as
// lib/job parses them; the chart's pause namespace is the pod's.
func TestSetting(t *testing.T) {
	comp := &component{Name: "force-replicasets", Namespace: "akash-services", CronJob: cronJob("--pause-configmap=from-args")}
	ctr := &comp.CronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[1]
	ctr.Env = []corev1.EnvVar{
		{Name: job.EnvName("pause-namespace"), ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: job.EnvName("pause-configmap"), Value: "from-env"},
		{Name: job.EnvName("paused"), Value: "true"},
	}
	v, ok := comp.setting("pause-namespace", false)
	assert.True(t, ok)
	assert.Equal(t, "akash-services", v)
	v, _ = comp.setting("pause-configmap", false)
	assert.Equal(t, "from-args", v, "a flag wins over the environment")
	v, _ = comp.setting("paused", true)
	assert.Equal(t, "true", v)
	_, ok = comp.setting("require-ready-pod", false)
	assert.False(t, ok)

	sw := pausable(&release{Components: []*component{comp}})
	assert.Equal(t, pauseSwitch{Namespace: "akash-services", ConfigMap: "from-args", Paused: true}, sw["force-replicasets"])
}

func TestChoose(t *testing.T) {
	one := map[string]*release{"akash-janitor": {Name: "akash-janitor"}}
	two := map[string]*release{"beta": {Name: "beta"}, "alpha": {Name: "alpha"}}

	r, err := choose("akash-services", "", one)
	require.NoError(t, err)
	assert.Equal(t, "akash-janitor", r.Name)
	r, err = choose("x", "beta", two)
	require.NoError(t, err)
	assert.Equal(t, "beta", r.Name)

	for _, tc := range []struct {
		want  string
		found map[string]*release
		msg   string
	}{
		{"", nil, "no akash-janitor release found in namespace ns (the chart installs in akash-services: -n akash-services)"},
		{"", two, "several akash-janitor releases in namespace ns: alpha, beta; choose one with --release"},
		{"gamma", two, `release "gamma" not found in namespace ns; its akash-janitor releases: alpha, beta`},
		{"gamma", nil, `release "gamma" not found in namespace ns: no akash-janitor release is installed there (the chart installs in akash-services: -n akash-services)`},
	} {
		_, err := choose("ns", tc.want, tc.found)
		require.Error(t, err)
		assert.True(t, errors.Is(err, ErrBadInput))
		assert.Equal(t, tc.msg, trimBadInput(err))
	}
}

// An Event reads back as lib/actuator's KubeEvents wrote it: Normal is
// done, a Warning noting "; failed: " failed, another Warning a finding.
func TestEntry(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: "default", Name: "ns1.1"},
		EventTime:           metav1.NewMicroTime(at),
		ReportingController: ControllerPrefix + "kill-lease-by-image",
		ReportingInstance:   "pod-1",
		Action:              "close-lease",
		Reason:              "DeniedImage",
		Type:                corev1.EventTypeWarning,
		Note:                "closing the lease: denied; failed: refused",
		Regarding:           corev1.ObjectReference{Kind: "Namespace", Name: "ns1"},
	}
	e := entry(ev, map[string]string{"ns1": "owner/1/1/1/provider"})
	assert.Equal(t, ReportEntry{Time: at, Job: "kill-lease-by-image", Action: "close-lease", Object: "Namespace/ns1", Lease: "owner/1/1/1/provider",
		Outcome: OutcomeFailed, Type: "Warning", Reason: "DeniedImage", Note: ev.Note, Instance: "pod-1", Event: "default/ns1.1"}, e)

	assert.Equal(t, OutcomeDone, outcome(corev1.EventTypeNormal, "x; failed: y"))
	assert.Equal(t, OutcomeFound, outcome(corev1.EventTypeWarning, "labelled with 2 GPUs"))

	assert.Equal(t, "ns1", leaseNamespace(corev1.ObjectReference{Kind: "Namespace", Name: "ns1"}))
	assert.Equal(t, "ns1", leaseNamespace(corev1.ObjectReference{Kind: "Manifest", Namespace: "lease", Name: "ns1"}))
	assert.Equal(t, "ns1", leaseNamespace(corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "ns1", Name: "web-1"}))
	assert.Equal(t, "", leaseNamespace(corev1.ObjectReference{Kind: "Node", Name: "n1"}))

	ev.EventTime = metav1.MicroTime{}
	ev.DeprecatedLastTimestamp = metav1.NewTime(at.Add(time.Minute))
	assert.Equal(t, at.Add(time.Minute), eventTime(ev), "an Event written through core/v1 has no eventTime")
}

func TestJobStatus(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", CreationTimestamp: created, Annotations: map[string]string{AnnotationInstantiate: "manual"}}}
	assert.Equal(t, "running", jobStatus(j).Result)
	assert.True(t, jobStatus(j).Manual)
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: created}}
	js := jobStatus(j)
	assert.Equal(t, "failed", js.Result)
	assert.Equal(t, "BackoffLimitExceeded", js.Reason)
	require.NotNil(t, js.Finished)
}

func TestPauseRecord(t *testing.T) {
	made := metav1.NewTime(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: made}}
	reason, by, since := pauseRecord(cm)
	assert.Equal(t, "no reason given", reason, "as lib/job says it")
	assert.Empty(t, by)
	assert.Equal(t, made.Time, *since, "made by kubectl create configmap: since it was made")

	cm.Data = map[string]string{job.PauseReason: " upgrade ", PausedBy: "ops", PausedAt: "2026-05-01T11:00:00Z"}
	reason, by, since = pauseRecord(cm)
	assert.Equal(t, "upgrade", reason)
	assert.Equal(t, "ops", by)
	assert.Equal(t, time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC), *since)
}

// The table an operator reads: each component in a row, each state's
// reason, and the switch, blockers, budget and admission lists below.
func TestStatusPrint(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	yes, no, holding := true, false, true
	st := &Status{
		Release: "akash-janitor", Namespace: "akash-services", Chart: "akash-janitor-0.3.0", AppVersion: "0.3.0",
		Components: []ComponentStatus{
			{Name: "force-replicasets", Kind: "CronJob", Schedule: "* * * * *", DryRun: &no, LastSchedule: ago(20 * time.Second), LastSuccess: ago(20 * time.Second),
				NewestJob: &JobStatus{Name: "fr-1", Result: "succeeded", Created: *ago(20 * time.Second)}, State: StateBlocked, Why: "pod akash-services/akash-provider-0 is not Ready"},
			{Name: "kill-lease-by-image", Kind: "CronJob", Schedule: "* * * * *", DryRun: &yes, LastSchedule: ago(time.Minute),
				NewestJob: &JobStatus{Name: "kl-1", Result: "failed", Reason: "BackoffLimitExceeded", Created: *ago(time.Minute)}, State: StateActive},
			{Name: "zombie-reaper", Kind: "DaemonSet", Schedule: "every 30s", DryRun: &no, Ready: "3/3", State: StateActive},
		},
		Pause:       []PauseStatus{{ConfigMap: "akash-services/akash-janitor-pause", Components: []string{"force-replicasets", "zombie-reaper"}}},
		Blockers:    []BlockerStatus{{Kind: "pod", Target: "akash-services/akash-provider-0", Holding: &holding, Detail: "pod akash-services/akash-provider-0 is not Ready", Components: []string{"force-replicasets"}}},
		CloseBudget: &CloseBudgetStatus{ConfigMap: "akash-services/akash-janitor-close-budget", PerDay: 20, Used: 3, Left: 17, NextFree: func() *time.Time { v := now.Add(5 * time.Hour); return &v }()},
	}
	var out bytes.Buffer
	require.NoError(t, st.Print(&out, now))
	text := out.String()
	lines := strings.Split(text, "\n")
	assert.Equal(t, "Release akash-janitor in namespace akash-services (chart akash-janitor-0.3.0, app 0.3.0)", lines[0])
	assert.Equal(t, []string{"COMPONENT", "KIND", "SCHEDULE", "LAST", "SCHEDULE", "LAST", "SUCCESS", "NEWEST", "JOB", "READY", "MODE", "STATE"}, strings.Fields(lines[2]))
	assert.Equal(t, []string{"force-replicasets", "CronJob", "*", "*", "*", "*", "*", "20s", "20s", "succeeded", "20s", "ago", "-", "live", "blocked"}, strings.Fields(lines[3]))
	assert.Equal(t, []string{"zombie-reaper", "DaemonSet", "every", "30s", "-", "-", "-", "3/3", "live", "active"}, strings.Fields(lines[5]))
	assert.Contains(t, text, "force-replicasets is blocked: pod akash-services/akash-provider-0 is not Ready\n")
	assert.Contains(t, text, "kill-lease-by-image: its newest Job kl-1 failed (BackoffLimitExceeded): kubectl -n akash-services logs job/kl-1\n")
	assert.Contains(t, text, "Pause:         off: no ConfigMap akash-services/akash-janitor-pause, the jobs act")
	assert.Contains(t, text, "Blockers:      BLOCKING: pod akash-services/akash-provider-0 is not Ready\n")
	assert.Contains(t, text, "Close budget:  17 of 20 lease closes left (3 used in the last 24h, ConfigMap akash-services/akash-janitor-close-budget); the oldest ages out in 5h\n")
	assert.Contains(t, text, "Admission:     off")
}

// Usage mistakes and bad input exit 2 with one line; no cluster is asked.
func TestExecuteExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"status", "--bogus"}, 2, "error: unknown flag: --bogus\n"},
		{[]string{"nope"}, 2, `error: unknown command "nope" for "kubectl janitor"` + "\n"},
		{[]string{"report", "--since", "-1h"}, 2, "error: --since=-1h0m0s: must be 0 (everything) or more\n"},
		{[]string{"status", "-o", "table"}, 2, `error: --output="table": want one of ["" "json" "yaml"]` + "\n"},
		{[]string{"version"}, 0, ""},
		// A cluster that does not answer: the command ran and failed.
		{[]string{"status", "-n", "akash-services", "--server", "https://127.0.0.1:1", "--request-timeout", "5s"}, 1, "error: list CronJobs in namespace akash-services: "},
	} {
		var out, errOut bytes.Buffer
		cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		code := Execute(context.Background(), cmd, tc.args, &errOut)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errOut.String())
		if tc.code == 1 {
			assert.True(t, strings.HasPrefix(errOut.String(), tc.err), "%v: %s", tc.args, errOut.String())
			continue
		}
		assert.Equal(t, tc.err, errOut.String(), "%v", tc.args)
	}
	var out bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	require.Equal(t, 0, Execute(context.Background(), cmd, []string{"completion", "bash"}, &out))
	assert.Contains(t, out.String(), "bash completion V2 for kubectl-janitor")
}
