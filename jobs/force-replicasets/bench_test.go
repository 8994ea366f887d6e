package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// BenchmarkForceReplicasets measures a run (as a process, like a CronJob's)
// against synthetic providers of 100 and then 1,000 leases, 5% of them with
// a stuck update. Targets (issue 2): under 2 s and 64 MiB at 1,000 leases,
// and the same requests at 100 and 1,000 leases, within pagination.
//
//	make bench
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
	// Ordinary leases share big nodes; each phase's stuck leases fill a pool
	// of their own exactly, so their surge pods find no room.
	require(c.AddNodes(ctx,
		kubetest.Node{Name: "bench-1", CPU: "64", Memory: "512Gi", Pods: 600, Labels: map[string]string{poolLabel: "bench"}},
		kubetest.Node{Name: "bench-2", CPU: "64", Memory: "512Gi", Pods: 600, Labels: map[string]string{poolLabel: "bench"}},
	))

	seeded := 0
	for _, total := range []int{100, 1000} {
		phase := fmt.Sprintf("stuck-%d", total)
		add := total - seeded
		stuck := add / 20
		require(c.AddNodes(ctx, kubetest.Node{
			Name: phase, CPU: fmt.Sprintf("%dm", 1500*stuck), Memory: "512Gi", Pods: 600,
			Labels: map[string]string{poolLabel: phase},
		}))
		start := time.Now()
		require(seed(ctx, c, builder, seeded, add, stuck, phase))
		b.Logf("seeded %d leases (%d stuck) in %s", add, stuck, time.Since(start).Round(time.Millisecond))
		seeded = total

		b.Run(fmt.Sprintf("leases=%d", total), func(b *testing.B) {
			bin := jobtest.Build(b, ".")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, "--kubeconfig", c.KubeconfigPath, "--dry-run", "--min-stuck=0s",
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
	// Wait until the scheduler has rejected every stuck update.
	deadline := time.Now().Add(3 * time.Minute)
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
		if n >= from/20+stuck {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d updates got stuck", n, from/20+stuck)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitRunning(ctx context.Context, c *kubetest.Cluster, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running", LabelSelector: "akash.network/manifest-service"})
		if err != nil {
			return err
		}
		if len(pods.Items) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d lease pods running after %s", len(pods.Items), want, limit)
		}
		time.Sleep(time.Second)
	}
}
