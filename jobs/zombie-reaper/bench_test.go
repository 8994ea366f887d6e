package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

// BenchmarkZombieReaper measures a pass over a process table of 10,000
// processes holding 500 zombies under 50 parents inside shims (issue 6:
// target under 100 ms for the scan), in process (scan and plan) and as the
// binary's --once --dry-run pass (scan as it logs it, and peak RSS).
//
//	make bench
func BenchmarkZombieReaper(b *testing.B) {
	const total, parents, perParent = 10_000, 50, 10
	c := kubetest.Shared(b)
	tools := proctabletest.Build(b)
	for i := 0; i < parents; i++ {
		proctabletest.Start(b, tools.UnderShim(tools.Spawn(perParent, "never", false)))
	}
	table, err := proctable.Open("/proc")
	if err != nil {
		b.Fatal(err)
	}
	snap, err := table.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	sleepers := total - len(snap.Procs)
	start := time.Now()
	startSleepers(b, sleepers)
	b.Logf("started %d sleepers in %s", sleepers, time.Since(start).Round(time.Millisecond))

	r := rules{shimComms: []string{"containerd-shim*"}, minZombies: 1, withinPID: os.Getpid(), self: os.Getpid()}
	b.Run("scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var scans []time.Duration
			var procs, zombies, acting int
			for j := 0; j < 20; j++ {
				t0 := time.Now()
				snap, err := table.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				ps := plan(snap, newAgeBook(), time.Now(), r)
				scans = append(scans, time.Since(t0))
				procs, zombies, acting = len(snap.Procs), 0, 0
				for _, p := range ps {
					if p.act {
						acting++
						zombies += len(p.zombies)
					}
				}
			}
			if zombies != parents*perParent || acting != parents {
				b.Fatalf("found %d zombies under %d parents, want %d under %d", zombies, acting, parents*perParent, parents)
			}
			sort.Slice(scans, func(i, j int) bool { return scans[i] < scans[j] })
			median := scans[len(scans)/2]
			b.ReportMetric(float64(median.Microseconds())/1000, "scan-ms")
			b.ReportMetric(float64(procs), "processes")
			b.Logf("%d processes, %d zombies under %d parents: scan and plan median %s (min %s, max %s)",
				procs, zombies, acting, median.Round(100*time.Microsecond), scans[0].Round(100*time.Microsecond), scans[len(scans)-1].Round(100*time.Microsecond))
		}
	})
	b.Run("pass", func(b *testing.B) {
		bin := jobtest.Build(b, ".")
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, "--kubeconfig", c.KubeconfigPath, "--once", "--dry-run", "--min-zombie-age=0s",
				"--metrics-addr=", "--max-actions=100", "--within-pid", strconv.Itoa(os.Getpid()))
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("run: %v\n%s", err, out)
			}
			run := jobtest.Parse(b, string(out))
			obs := run.Message("observed")
			if obs == nil || obs["parents_act"] != float64(parents) {
				b.Fatalf("want %d parents to act on:\n%s", parents, out)
			}
			scan := time.Duration(obs["scan"].(float64) * float64(time.Millisecond))
			rss := run.Summary()["peak_rss_mib"].(float64)
			b.ReportMetric(float64(scan.Microseconds())/1000, "scan-ms")
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.Logf("binary: %v processes, scan %s, peak RSS %.1f MiB", obs["processes"], scan.Round(100*time.Microsecond), rss)
		}
	})
}

// startSleepers starts n sleeping processes in one process group, killed
// when the benchmark ends.
func startSleepers(b *testing.B, n int) {
	pgid := 0
	for i := 0; i < n; i++ {
		cmd := exec.Command("sleep", "3600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		if err := cmd.Start(); err != nil {
			b.Fatalf("sleeper %d: %v", i, err)
		}
		if pgid == 0 {
			pgid = cmd.Process.Pid
			b.Cleanup(func() {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			})
		}
		go func() { _ = cmd.Wait() }()
	}
	fmt.Fprintf(os.Stderr, "%d sleepers in process group %d\n", n, pgid)
}
