package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// BenchmarkForceReplicasets measures a run (as a process, like a CronJob's)
// against synthetic providers of 1,000 and then 10,000 leases, 5% of them
// with a stuck update. Targets (issue 18): under 3 s and 64 MiB at 10,000
// leases, memory flat from 1,000 to 10,000, and API requests the number of
// LIST pages.
//
//	make bench
//	BENCH_LEASES=100,1000 make bench   # other lease counts, ascending
//
// The run is a dry run with a budget above the stuck count, so it observes
// and plans everything and the state stays the same from one run to the next.
func BenchmarkForceReplicasets(b *testing.B) {
	pageSize := os.Getenv("BENCH_PAGE_SIZE")
	if pageSize == "" {
		pageSize = "500"
	}
	c, builder := akashtest.Shared(b)
	ctx := context.Background()
	require := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	counts, err := benchLeaseCounts(os.Getenv("BENCH_LEASES"))
	require(err)
	script := jobtest.Runbook(b, "akash-force-new-replicasets.sh", "bash", "kubectl", "jq")
	compareAt := counts[0]
	if v := os.Getenv("BENCH_RUNBOOK_LEASES"); v != "" {
		compareAt, err = strconv.Atoi(v)
		if err != nil || !slices.Contains(counts, compareAt) {
			b.Fatalf("BENCH_RUNBOOK_LEASES=%q: want one of the lease counts %v", v, counts)
		}
	}
	bin := jobtest.Build(b, ".")
	var stuckLeases []int // every phase's, by index
	image := 2            // the stuck leases' update is app:<image>

	// Ordinary leases share big nodes of 1,000 pods each; each phase's stuck
	// leases fill a pool of their own exactly, so their surge pods find no
	// room.
	seeded, nodes := 0, 0
	for _, total := range counts {
		for ; nodes*1000 < total; nodes++ {
			require(c.AddNodes(ctx, kubetest.Node{Name: fmt.Sprintf("bench-%d", nodes+1), CPU: "64", Memory: "512Gi", Pods: 1000,
				Labels: map[string]string{poolLabel: "bench"}}))
		}
		phase := fmt.Sprintf("stuck-%d", total)
		add := total - seeded
		stuck := add / 20
		require(c.AddNodes(ctx, kubetest.Node{
			Name: phase, CPU: fmt.Sprintf("%dm", 1500*stuck), Memory: "512Gi", Pods: int64(max(600, 2*stuck)),
			Labels: map[string]string{poolLabel: phase},
		}))
		start := time.Now()
		require(seed(ctx, c, builder, seeded, add, stuck, phase))
		b.Logf("seeded %d leases (%d stuck) in %s", add, stuck, time.Since(start).Round(time.Millisecond))
		for i := seeded; i < seeded+stuck; i++ {
			stuckLeases = append(stuckLeases, i)
		}
		seeded = total

		// Seeding leaves the controllers, the scheduler and kwok busy for a
		// while (pod statuses, Events): the measured run is on a cluster at
		// rest, as a provider's is between updates, after one untimed run.
		time.Sleep(20 * time.Second)
		if out, err := exec.Command(bin, "--kubeconfig", c.KubeconfigPath, "--require-ready-pod=", "--dry-run", "--min-stuck=0s", "--max-actions=10000", "--page-size="+pageSize).CombinedOutput(); err != nil {
			b.Fatalf("warm-up run: %v\n%s", err, out)
		}
		b.Run(fmt.Sprintf("leases=%d", total), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, "--kubeconfig", c.KubeconfigPath, "--require-ready-pod=", "--dry-run", "--min-stuck=0s",
					"--max-actions=10000", "--log-level=debug", "--page-size="+pageSize)
				startRun := time.Now()
				out, err := cmd.CombinedOutput()
				wall := time.Since(startRun)
				if err != nil {
					b.Fatalf("run: %v\n%s", err, out)
				}
				r := jobtest.Parse(b, string(out))
				planned := int(r.Summary()["actions"].(float64))
				if planned != total/20 {
					b.Fatalf("planned %d deletions, want %d (one per stuck lease)\n%s", planned, total/20, out)
				}
				requests := int(r.Summary()["api_requests"].(float64))
				rss := r.Summary()["peak_rss_mib"].(float64)
				b.ReportMetric(wall.Seconds(), "wall-s/run")
				b.ReportMetric(float64(requests), "requests/run")
				b.ReportMetric(rss, "peak-RSS-MiB")
				b.Logf("%d leases: wall %s, %d API requests (%s), peak RSS %.1f MiB, planned %d",
					total, wall.Round(time.Millisecond), requests, r.RequestBreakdown(), rss, planned)
			}
		})
		if script != "" && total == compareAt {
			// Both act for real: the job, then the stuck updates are made
			// again (a new image each), then the script, then again.
			// A deletion frees room in the stuck leases' shared pool,
			// which can let another stuck update through by itself: what
			// counts is how many are still stuck a minute after the run.
			ours := runForReal(b, bin, c, pageSize)
			oursLeft, err := settle(ctx, c, time.Minute)
			require(err)
			image++
			require(restick(ctx, c, builder, stuckLeases, image))
			theirs := runScript(b, script, c)
			theirsLeft, err := settle(ctx, c, time.Minute)
			require(err)
			image++
			require(restick(ctx, c, builder, stuckLeases, image))
			jobtest.PrintComparison(fmt.Sprintf("%d leases, %d with a stuck update: one run each, for real", total, len(stuckLeases)),
				jobtest.Side{Name: "akash-force-new-replicasets.sh", Wall: theirs.wall, Requests: theirs.requests,
					Outcome: fmt.Sprintf("%d ReplicaSets deleted, %d updates stuck a minute later", theirs.deleted, theirsLeft)},
				jobtest.Side{Name: "force-replicasets", Wall: ours.wall, Requests: ours.requests,
					Outcome: fmt.Sprintf("%d ReplicaSets deleted, %d updates stuck a minute later", ours.deleted, oursLeft)})
		}
	}
}

type sideRun struct {
	wall              time.Duration
	requests, deleted int
}

// runForReal runs force-replicasets for real.
func runForReal(b *testing.B, bin string, c *kubetest.Cluster, pageSize string) sideRun {
	b.Helper()
	t0 := time.Now()
	r := jobtest.Run(b, bin, "--kubeconfig", c.KubeconfigPath, "--require-ready-pod=", "--min-stuck=0s", "--max-actions=10000", "--page-size="+pageSize)
	wall := time.Since(t0)
	if r.Code != 0 {
		b.Fatalf("force-replicasets exited %d", r.Code)
	}
	return sideRun{wall: wall, requests: int(r.Summary()["api_requests"].(float64)), deleted: int(r.Summary()["done"].(float64))}
}

// apiRequest is a request line of kubectl -v=6.
var apiRequest = regexp.MustCompile(`\] (GET|POST|PUT|PATCH|DELETE) https?://`)

// runScript runs the runbook's script as its cron job does, with kubectl
// counting its requests: a kubectl on PATH runs the real one at -v=6, its
// log to a file.
func runScript(b *testing.B, script string, c *kubetest.Cluster) sideRun {
	b.Helper()
	real, err := exec.LookPath("kubectl")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	log := filepath.Join(dir, "kubectl.log")
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %q -v=6 \"$@\" 2>>%q\n", real, log)
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(wrapper), 0o755); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "KUBECONFIG="+c.KubeconfigPath, "HOME="+dir)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(t0)
	if err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
	b.Logf("%s (%s):\n%s", filepath.Base(script), wall.Round(time.Millisecond), out)
	logged, err := os.ReadFile(log)
	if err != nil {
		b.Fatal(err)
	}
	return sideRun{wall: wall, requests: len(apiRequest.FindAll(logged, -1)),
		deleted: strings.Count(string(out), "deleted")}
}

// leasePods lists the lease pods (the provider's workloads) in a phase.
func leasePods(ctx context.Context, c *kubetest.Cluster, phase corev1.PodPhase) ([]corev1.Pod, error) {
	pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("status.phase", string(phase)).String(), LabelSelector: akash.LabelManifestService})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// settle waits up to limit for the lease pods still pending to be
// scheduled and returns how many are left.
func settle(ctx context.Context, c *kubetest.Cluster, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		pods, err := leasePods(ctx, c, corev1.PodPending)
		if err != nil {
			return 0, err
		}
		if len(pods) == 0 || time.Now().After(deadline) {
			return len(pods), nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// restick gives the stuck leases another update that cannot be scheduled,
// after a run freed their room, and waits until the scheduler refuses
// every one.
func restick(ctx context.Context, c *kubetest.Cluster, builder *akashtest.Builder, leases []int, image int) error {
	// First the freed rollouts finish: a pod still pending from the last
	// update could otherwise take the room the next one is refused.
	if left, err := settle(ctx, c, 3*time.Minute); err != nil || left > 0 {
		return fmt.Errorf("%d lease pods still pending after the run freed their room (%v)", left, err)
	}
	for _, i := range leases {
		if err := builder.SetImage(ctx, akashtest.LeaseID(10_000+i), "app", fmt.Sprintf("app:%d", image)); err != nil {
			return err
		}
	}
	want := fmt.Sprintf("app:%d", image)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pods, err := leasePods(ctx, c, corev1.PodPending)
		if err != nil {
			return err
		}
		// The scheduler's verdict in the pod's status, and its Event,
		// which the script reads (kubectl describe).
		events, err := c.Kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil {
			return err
		}
		told := map[string]bool{}
		for _, e := range events.Items {
			told[e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name] = true
		}
		n := 0
		for _, p := range pods {
			for _, cond := range p.Status.Conditions {
				if p.Spec.Containers[0].Image == want && cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable && told[p.Namespace+"/"+p.Name] {
					n++
				}
			}
		}
		if n >= len(leases) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d updates to %s got stuck", n, len(leases), want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// seed creates n leases from index from; the first stuck of them get an
// update that cannot be scheduled.
func seed(ctx context.Context, c *kubetest.Cluster, b *akashtest.Builder, from, n, stuck int, stuckPool string) error {
	err := b.CreateAll(ctx, from, from+n, func(i int) akashtest.Lease {
		l := akashtest.Lease{ID: akashtest.LeaseID(10_000 + i)}
		svc := akashtest.Service{Name: "app", Image: "app:1", CPU: "10m", Memory: "32Mi", Count: 1,
			NodeSelector: map[string]string{poolLabel: "bench"}}
		if i-from < stuck {
			l.Strategy = akashtest.SurgeStrategy()
			svc.CPU, svc.NodeSelector = "1500m", map[string]string{poolLabel: stuckPool}
		}
		l.Services = []akashtest.Service{svc}
		return l
	})
	if err != nil {
		return err
	}
	if err := waitRunning(ctx, c, from+n, 5*time.Minute); err != nil {
		return err
	}
	for i := from; i < from+stuck; i++ {
		if err := b.SetImage(ctx, akashtest.LeaseID(10_000+i), "app", "app:2"); err != nil {
			return err
		}
	}
	return waitCPUStuck(ctx, c, from/20+stuck, 3*time.Minute)
}

// waitCPUStuck waits until the scheduler has rejected want updates for lack of
// CPU.
func waitCPUStuck(ctx context.Context, c *kubetest.Cluster, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		msgs, err := akashtest.Unschedulable(ctx, c.Kube, "")
		if err != nil {
			return err
		}
		n := 0
		for _, m := range msgs {
			if strings.Contains(m, "Insufficient cpu") {
				n++
			}
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d updates got stuck", n, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitRunning(ctx context.Context, c *kubetest.Cluster, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		pods, err := leasePods(ctx, c, corev1.PodRunning)
		if err != nil {
			return err
		}
		if len(pods) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d lease pods running after %s", len(pods), want, limit)
		}
		time.Sleep(time.Second)
	}
}

// benchLeaseCounts parses BENCH_LEASES: ascending lease counts, each a
// multiple of 20 so that 5% of every phase is a whole number.
func benchLeaseCounts(s string) ([]int, error) {
	if s == "" {
		return []int{1000, 10000}, nil
	}
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n%20 != 0 || (len(counts) > 0 && n <= counts[len(counts)-1]) {
			return nil, fmt.Errorf("BENCH_LEASES=%q: want ascending positive multiples of 20, like 1000,10000", s)
		}
		counts = append(counts, n)
	}
	return counts, nil
}
