package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// Each scenario gets its own 2-CPU node (pool label), so one scenario's pods
// never take another's room.
const poolLabel = "janitor.test/pool"

func pool(name string) kubetest.Node {
	return kubetest.Node{Name: name, CPU: "2", Memory: "8Gi", Labels: map[string]string{poolLabel: name}}
}

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(pool("stuck"), pool("two-services"), pool("count")))
}

// runJob runs the job as a process, the way a CronJob does. The pools are
// sized to the tenants' requests, so no provider pod runs here and the
// provider blocker is off (--require-ready-pod=) but where a test turns it
// on for a pod of its own.
func runJob(t *testing.T, c *kubetest.Cluster, args ...string) jobtest.Result {
	t.Helper()
	return jobtest.Run(t, jobtest.Build(t, "."), append([]string{"--kubeconfig", c.KubeconfigPath, "--require-ready-pod="}, args...)...)
}

// blockingRules fire two alerts at once, one critical.
const blockingRules = `groups:
- name: maintenance
  rules:
  - alert: StorageDegraded
    expr: vector(1)
    labels: {severity: critical}
  - alert: Watchdog
    expr: vector(1)
    labels: {severity: none}
`

func replicaSetsOf(t *testing.T, c *kubetest.Cluster, ns, deployment string) map[string]appsv1.ReplicaSet {
	t.Helper()
	list, err := c.Kube.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	out := map[string]appsv1.ReplicaSet{}
	for _, rs := range list.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" && o.Name == deployment {
				out[rs.Annotations[revisionAnnotation]] = rs
			}
		}
	}
	return out
}

func waitRolledOut(t *testing.T, c *kubetest.Cluster, ns, name string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			dumpNamespace(t, c, ns)
		}
	}()
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, 90*time.Second, 200*time.Millisecond, "deployment %s/%s did not finish its rollout", ns, name)
}

// dumpNamespace logs the pods and ReplicaSets of a namespace, to explain a
// failed wait.
func dumpNamespace(t *testing.T, c *kubetest.Cluster, ns string) {
	ctx := context.Background()
	pods, _ := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		t.Logf("pod %s node=%q phase=%s deleting=%v conditions=%+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp != nil, p.Status.Conditions)
	}
	sets, _ := c.Kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	for _, rs := range sets.Items {
		t.Logf("replicaset %s revision=%s spec=%d status=%d ready=%d", rs.Name, rs.Annotations[revisionAnnotation], *rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas)
	}
	deps, _ := c.Kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	for _, d := range deps.Items {
		t.Logf("deployment %s gen=%d observed=%d status=%+v", d.Name, d.Generation, d.Status.ObservedGeneration, d.Status)
	}
}

// waitStuck waits until the scheduler has rejected a pod of the namespace
// with the given message part, and returns that message.
func waitStuck(t *testing.T, c *kubetest.Cluster, ns, want string) string {
	t.Helper()
	var msg string
	require.Eventually(t, func() bool {
		msgs, err := akashtest.Unschedulable(context.Background(), c.Kube, ns)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if strings.Contains(m, want) {
				msg = m
				return true
			}
		}
		return false
	}, 60*time.Second, 200*time.Millisecond, "no pod of %s became unschedulable with %q", ns, want)
	return msg
}

func TestStuckRolloutCompletes(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	id := akashtest.LeaseID(101)
	ns := id.Namespace()
	require.NoError(t, b.Create(ctx, akashtest.Lease{
		ID:       id,
		Strategy: akashtest.SurgeStrategy(),
		Services: []akashtest.Service{{
			Name: "web", Image: "nginx:1.27", CPU: "1500m", Memory: "512Mi", Count: 1,
			NodeSelector: map[string]string{poolLabel: "stuck"},
		}},
	}))
	waitRolledOut(t, c, ns, "web")

	// The tenant updates the image: the new pod needs 1.5 CPU more on a
	// 2-CPU node where the old pod still holds 1.5.
	require.NoError(t, b.SetImage(ctx, id, "web", "nginx:1.28"))
	msg := waitStuck(t, c, ns, "Insufficient cpu")
	t.Logf("scheduler: %s", msg)

	t.Run("a rollout younger than --min-stuck is left alone", func(t *testing.T) {
		r := runJob(t, c, "--min-stuck=1h")
		require.Equal(t, job.ExitOK, r.Code)
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1)
		assert.Equal(t, "skipped", acts[0]["outcome"])
		assert.Contains(t, acts[0]["detail"], "--min-stuck 1h0m0s")
		assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2)
	})

	t.Run("a paused deployment is left alone", func(t *testing.T) {
		_, err := c.Kube.AppsV1().Deployments(ns).Patch(ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.ObservedGeneration == d.Generation
		}, 30*time.Second, 100*time.Millisecond)
		r := runJob(t, c, "--min-stuck=0s")
		require.Equal(t, job.ExitOK, r.Code)
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1)
		assert.Equal(t, "skipped", acts[0]["outcome"])
		assert.Contains(t, acts[0]["detail"], "paused")
		assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2)
		_, err = c.Kube.AppsV1().Deployments(ns).Patch(ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"paused":false}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	})

	t.Run("dry-run changes nothing", func(t *testing.T) {
		require.Eventually(t, func() bool {
			d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.ObservedGeneration == d.Generation
		}, 30*time.Second, 100*time.Millisecond)
		r := runJob(t, c, "--min-stuck=0s", "--dry-run")
		require.Equal(t, job.ExitOK, r.Code)
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1)
		assert.Equal(t, "planned", acts[0]["outcome"])
		assert.Equal(t, true, acts[0]["dry_run"])
		assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2)
		events, err := c.Kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + reasonRolloutStuck})
		require.NoError(t, err)
		assert.Empty(t, events.Items, "dry-run records no Events")
	})

	t.Run("the pause switch holds every action", func(t *testing.T) {
		const switchNS = "default"
		pause := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-pause", Namespace: switchNS},
			Data: map[string]string{job.PauseReason: "node maintenance until 14:00"}}
		_, err := c.Kube.CoreV1().ConfigMaps(switchNS).Create(ctx, pause, metav1.CreateOptions{})
		require.NoError(t, err)
		r := runJob(t, c, "--min-stuck=0s", "--pause-namespace", switchNS)
		require.Equal(t, job.ExitOK, r.Code, "a paused run succeeds")
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1, "the plan is made and logged as ever")
		assert.Equal(t, "skipped", acts[0]["outcome"])
		assert.Equal(t, "paused: ConfigMap default/akash-janitor-pause is there (node maintenance until 14:00); delete it to resume", acts[0]["detail"])
		assert.Equal(t, id.String(), acts[0]["lease"])
		assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2, "nothing deleted")

		require.NoError(t, c.Kube.CoreV1().ConfigMaps(switchNS).Delete(ctx, pause.Name, metav1.DeleteOptions{}))
		r = runJob(t, c, "--min-stuck=0s", "--pause-namespace", switchNS, "--paused")
		require.Equal(t, job.ExitOK, r.Code)
		acts = r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1)
		assert.Equal(t, "paused: --paused is set (the chart's global.pause)", acts[0]["detail"])
		assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2, "nothing deleted")
		events, err := c.Kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + reasonRolloutStuck})
		require.NoError(t, err)
		assert.Empty(t, events.Items, "a paused run records no Events")
	})

	t.Run("blockers hold every action: the provider pod not Ready, a firing alert, a Prometheus that cannot be asked", func(t *testing.T) {
		provider := akashtest.ProviderNamespace + "/" + akashtest.ProviderPod
		// The provider pod, without requests: it takes no room in the pool.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: akashtest.ProviderPod, Namespace: akashtest.ProviderNamespace},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{poolLabel: "count"},
				Containers: []corev1.Container{{Name: akashtest.ProviderContainer, Image: akashtest.ProviderImage}}},
		}
		_, err := c.Kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		defer func() {
			_ = c.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		}()
		require.Eventually(t, func() bool {
			p, err := c.Kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			return err == nil && p.Status.PodIP != ""
		}, 30*time.Second, 100*time.Millisecond, "the provider pod did not start")

		held := func(t *testing.T, r jobtest.Result) string {
			t.Helper()
			require.Equal(t, job.ExitOK, r.Code, "a blocked run succeeds")
			acts := r.Actions(verbDeleteReplicaSet)
			require.Len(t, acts, 1, "the plan is made and logged as ever")
			assert.Equal(t, "skipped", acts[0]["outcome"])
			assert.Equal(t, id.String(), acts[0]["lease"])
			assert.Len(t, replicaSetsOf(t, c, ns, "web"), 2, "nothing deleted")
			detail, _ := acts[0]["detail"].(string)
			return detail
		}

		require.NoError(t, b.SetReady(ctx, pod.Namespace, pod.Name, false))
		detail := held(t, runJob(t, c, "--min-stuck=0s", "--require-ready-pod="+provider))
		assert.Regexp(t, `^blocked: pod akash-services/akash-provider-0 is not Ready \(ContainersNotReady: containers with unready status: \[provider\], since 20\d\d-`, detail)

		require.NoError(t, b.SetReady(ctx, pod.Namespace, pod.Name, true))
		prom, err := c.StartPrometheus(ctx, "prometheus-blockers", blockingRules)
		require.NoError(t, err)
		require.NoError(t, prom.WaitFiring(ctx, 2))
		alerts := []string{"--min-stuck=0s", "--require-ready-pod=" + provider, "--prometheus-url", prom.URL}
		detail = held(t, runJob(t, c, append(alerts, `--blocking-alerts=severity="critical"`)...))
		assert.Equal(t, `blocked: 1 alerts matching {severity="critical"} fire: StorageDegraded`, detail)
		detail = held(t, runJob(t, c, append(alerts, `--blocking-alerts=severity=~"critical|none",alertname!="Nope"`)...))
		assert.Equal(t, `blocked: 2 alerts matching {severity=~"critical|none",alertname!="Nope"} fire: StorageDegraded, Watchdog`, detail)

		// Ready, and no alert matching: the run would act (dry-run here;
		// the next test acts).
		r := runJob(t, c, append(alerts, `--blocking-alerts=severity="page"`, "--dry-run")...)
		require.Equal(t, job.ExitOK, r.Code)
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1)
		assert.Equal(t, "planned", acts[0]["outcome"], "nothing blocks: %v", acts[0]["detail"])

		// Prometheus gone: the job cannot tell, so it holds.
		require.NoError(t, prom.Stop())
		detail = held(t, runJob(t, c, append(alerts, `--blocking-alerts=severity="critical"`)...))
		assert.Contains(t, detail, "blocked: Prometheus at "+prom.URL+` cannot be asked whether an alert matching {severity="critical"} fires, so the job holds every action: `)

		require.NoError(t, c.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}))
		require.Eventually(t, func() bool {
			_, err := c.Kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond)
		detail = held(t, runJob(t, c, "--min-stuck=0s", "--require-ready-pod="+provider))
		assert.Equal(t, "blocked: pod akash-services/akash-provider-0, which must be Ready for the job to act, is not there", detail)

		events, err := c.Kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + reasonRolloutStuck})
		require.NoError(t, err)
		assert.Empty(t, events.Items, "a blocked run records no Events")
	})

	t.Run("the job frees the room and the rollout completes", func(t *testing.T) {
		sets := replicaSetsOf(t, c, ns, "web")
		require.Len(t, sets, 2)
		oldRS := sets["1"]

		r := runJob(t, c, "--min-stuck=0s")
		require.Equal(t, job.ExitOK, r.Code)
		acts := r.Actions(verbDeleteReplicaSet)
		require.Len(t, acts, 1, "one action: the old ReplicaSet")
		a := acts[0]
		assert.Equal(t, "done", a["outcome"])
		assert.Equal(t, id.String(), a["lease"])
		assert.Equal(t, ns, a["namespace"])
		assert.Equal(t, reasonRolloutStuck, a["reason"])
		assert.Equal(t, "ReplicaSet/"+ns+"/"+oldRS.Name, a["object"])
		assert.Equal(t, false, a["dry_run"])
		assert.Equal(t, "force-replicasets", a["job"])
		s := r.Summary()
		require.NotNil(t, s)
		assert.EqualValues(t, 1, s["done"])
		assert.EqualValues(t, 0, s["failed"])

		waitRolledOut(t, c, ns, "web")
		after := replicaSetsOf(t, c, ns, "web")
		assert.NotContains(t, after, "1", "the old ReplicaSet is gone")
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "nginx:1.28", d.Spec.Template.Spec.Containers[0].Image)
		assert.EqualValues(t, 1, d.Status.AvailableReplicas, "the updated pod runs")

		events, err := c.Kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		var found bool
		for _, e := range events.Items {
			if e.Reason == reasonRolloutStuck && e.ReportingController == "akash-janitor.akash.network/force-replicasets" {
				found = true
				assert.Equal(t, "Deployment", e.Regarding.Kind)
				assert.Equal(t, "web", e.Regarding.Name)
				assert.Equal(t, verbDeleteReplicaSet, e.Action)
				require.NotNil(t, e.Related)
				assert.Equal(t, oldRS.Name, e.Related.Name)
				assert.Equal(t, corev1.EventTypeNormal, e.Type)
			}
		}
		assert.True(t, found, "an Event on the Deployment records the action")

		again := runJob(t, c, "--min-stuck=0s")
		assert.Equal(t, job.ExitOK, again.Code)
		assert.Empty(t, again.Actions(verbDeleteReplicaSet), "nothing left to do")
	})
}

func TestTwoServicesOnlyTheStuckOneIsTouched(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	id := akashtest.LeaseID(102)
	ns := id.Namespace()
	pin := map[string]string{poolLabel: "two-services"}
	require.NoError(t, b.Create(ctx, akashtest.Lease{
		ID:       id,
		Strategy: akashtest.SurgeStrategy(),
		Services: []akashtest.Service{
			{Name: "web", Image: "nginx:1.27", CPU: "1500m", Count: 1, NodeSelector: pin},
			{Name: "api", Image: "api:1", CPU: "100m", Count: 1, NodeSelector: pin},
		},
	}))
	waitRolledOut(t, c, ns, "web")
	waitRolledOut(t, c, ns, "api")

	// web gets stuck on cpu; api's update is pending for another reason
	// (no node matches its new selector). The runbook's script, seeing
	// "Insufficient" in the namespace, would delete api's running ReplicaSet.
	require.NoError(t, b.SetImage(ctx, id, "web", "nginx:1.28"))
	_, err := c.Kube.AppsV1().Deployments(ns).Patch(ctx, "api", "application/strategic-merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"nodeSelector":{"janitor.test/pool":"nowhere"}}}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	waitStuck(t, c, ns, "Insufficient cpu")
	waitStuck(t, c, ns, "didn't match Pod's node affinity/selector")
	apiBefore := replicaSetsOf(t, c, ns, "api")
	require.Len(t, apiBefore, 2)

	r := runJob(t, c, "--min-stuck=0s")
	require.Equal(t, job.ExitOK, r.Code)
	acts := r.Actions(verbDeleteReplicaSet)
	require.Len(t, acts, 1)
	assert.Contains(t, acts[0]["object"], "/web-", "only web's old ReplicaSet")

	waitRolledOut(t, c, ns, "web")
	apiAfter := replicaSetsOf(t, c, ns, "api")
	assert.Equal(t, len(apiBefore), len(apiAfter), "api keeps its ReplicaSets")
	assert.EqualValues(t, 1, apiAfter["1"].Status.Replicas, "api's running pod is untouched")
}

// TestObserveListsAreConstant checks that a run reads the cluster in the same
// number of requests whatever the number of leases.
func TestObserveListsAreConstant(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	addLeases := func(from, to int) {
		for n := from; n < to; n++ {
			require.NoError(t, b.Create(ctx, akashtest.Lease{
				ID: akashtest.LeaseID(n),
				Services: []akashtest.Service{{Name: "app", Image: "app:1", CPU: "10m", Count: 1,
					NodeSelector: map[string]string{poolLabel: "count"}}},
			}))
		}
	}
	count := func() (map[string]int, *state) {
		var counter kube.RequestCounter
		cfg, err := kube.Config(kube.Options{Kubeconfig: c.KubeconfigPath})
		require.NoError(t, err)
		counter.Instrument(cfg)
		clients, err := kube.NewClients(cfg)
		require.NoError(t, err)
		st, err := observe(ctx, clients, 0)
		require.NoError(t, err)
		return counter.Counts(), st
	}

	addLeases(1000, 1003)
	small, st := count()
	require.GreaterOrEqual(t, len(st.deployments), 3)
	addLeases(1003, 1033)
	large, st := count()
	require.GreaterOrEqual(t, len(st.deployments), 33)
	assert.Equal(t, small, large, "same requests for 3 and 33 leases")
	assert.Equal(t, map[string]int{"LIST namespaces": 1, "LIST deployments": 1, "LIST replicasets": 1, "LIST pods": 1}, large)

	// And the whole run, through the actuator, adds no per-lease call.
	var counter kube.RequestCounter
	cfg, err := kube.Config(kube.Options{Kubeconfig: c.KubeconfigPath})
	require.NoError(t, err)
	counter.Instrument(cfg)
	clients, err := kube.NewClients(cfg)
	require.NoError(t, err)
	env := &job.Env{
		Log:      zerolog.Nop(),
		Clients:  clients,
		Actuator: actuator.New(actuator.Options{MaxActions: 10, Log: zerolog.Nop()}),
		Now:      time.Now,
	}
	require.NoError(t, run(ctx, env, options{minStuck: 5 * time.Minute}))
	assert.Equal(t, 4, counter.Total(), counter.String())
}
