package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// processes holding 500 zombies under 50 parents inside shims (target:
// under 100 ms median), in process (scan and plan) and as the binary's
// --once --dry-run pass (scan as it logs it, and peak RSS). With
// BENCH_RUNBOOK set, the runbook's kill_zombie_parents.sh runs on the same
// process tree beside zombie-reaper: once on the healthy node (no zombies:
// what every cron run costs) and once with the zombies.
//
//	make bench
//	BENCH_RUNBOOK=path/to/runbook/scripts make bench
func BenchmarkZombieReaper(b *testing.B) {
	const total, parents, perParent = 10_000, 50, 10
	c := kubetest.Shared(b)
	tools := proctabletest.Build(b)
	bin := jobtest.Build(b, ".")
	runbook := jobtest.Runbook(b, "kill_zombie_parents.sh", "bash", "cut", "awk")
	table, err := proctable.Open("/proc")
	if err != nil {
		b.Fatal(err)
	}
	snap, err := table.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	// Each tree is a shim, a parent and its zombies.
	sleepers := total - snap.Len() - parents*(perParent+2)
	start := time.Now()
	startSleepers(b, sleepers)
	b.Logf("started %d sleepers in %s", sleepers, time.Since(start).Round(time.Millisecond))

	if runbook != "" {
		if n := zombiesOnNode(b, table); n > 0 {
			fmt.Printf("zombie-reaper: this machine has %d zombies of its own: no healthy-node comparison\n", n)
		} else {
			script := runScript(b, runbook)
			ours := runOnce(b, bin, c, "--dry-run")
			jobtest.PrintComparison(fmt.Sprintf("A healthy node, %d processes, no zombies: one run each", snap.Len()+sleepers),
				jobtest.Side{Name: "kill_zombie_parents.sh", Wall: script, Requests: -1, Outcome: "found none"},
				jobtest.Side{Name: "zombie-reaper --once", Wall: ours.wall, Requests: -1, Outcome: fmt.Sprintf("found none in %s", ours.scan.Round(time.Millisecond))})
		}
	}

	trees := startTrees(b, tools, parents, perParent)
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
				procs, zombies, acting = snap.Len(), 0, 0
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
		for i := 0; i < b.N; i++ {
			run := runOnce(b, bin, c, "--dry-run", "--max-actions=100", "--within-pid", strconv.Itoa(os.Getpid()))
			if run.parents != parents {
				b.Fatalf("want %d parents to act on, got %d", parents, run.parents)
			}
			b.ReportMetric(float64(run.scan.Microseconds())/1000, "scan-ms")
			b.ReportMetric(run.rss, "peak-RSS-MiB")
			b.Logf("binary: %d processes, scan %s, peak RSS %.1f MiB", run.processes, run.scan.Round(100*time.Microsecond), run.rss)
		}
	})
	if runbook == "" {
		return
	}
	// Both clean up for real, each on zombies of its own: zombie-reaper
	// first, then the script on new trees.
	ours := runOnce(b, bin, c, "--max-actions=100", "--within-pid", strconv.Itoa(os.Getpid()))
	for _, t := range trees {
		t.Kill()
	}
	fresh := startTrees(b, tools, parents, perParent)
	script := runScript(b, runbook)
	cleared := parents * perParent
	for _, t := range fresh {
		cleared -= len(proctabletest.Zombies(b, t.Parent))
	}
	jobtest.PrintComparison(fmt.Sprintf("A node of %d processes with %d zombies under %d parents that reap when asked: one run each", total, parents*perParent, parents),
		jobtest.Side{Name: "kill_zombie_parents.sh", Wall: script, Requests: -1, Outcome: fmt.Sprintf("%d zombies cleared", cleared)},
		jobtest.Side{Name: "zombie-reaper --once", Wall: ours.wall, Requests: -1, Outcome: fmt.Sprintf("%d zombies cleared (%d parents)", ours.reaped, ours.acted)})
}

// startTrees starts n shims, each with a parent of perParent zombies that
// reaps them on SIGCHLD.
func startTrees(b *testing.B, tools proctabletest.Tools, n, perParent int) []*proctabletest.Tree {
	var trees []*proctabletest.Tree
	for i := 0; i < n; i++ {
		trees = append(trees, proctabletest.Start(b, tools.UnderShim(tools.Spawn(perParent, "sigchld", false))))
	}
	return trees
}

// reaperRun is what one --once run of the binary said.
type reaperRun struct {
	wall, scan     time.Duration
	processes      int
	parents, acted int // parents to act on; escalations that ended well
	zombies        int
	reaped         int
	results        []string // each escalation's
	rss            float64
}

func runOnce(b *testing.B, bin string, c *kubetest.Cluster, args ...string) reaperRun {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"--kubeconfig", c.KubeconfigPath, "--once", "--min-zombie-age=0s", "--metrics-addr="}, args...)...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(t0)
	if err != nil {
		b.Fatalf("run: %v\n%s", err, tail(out))
	}
	r := jobtest.Parse(b, string(out))
	obs := r.Message("observed")
	if obs == nil {
		b.Fatalf("no observed line:\n%s", tail(out))
	}
	run := reaperRun{wall: wall, scan: time.Duration(obs["scan"].(float64) * float64(time.Millisecond)),
		processes: int(obs["processes"].(float64)), parents: int(obs["parents_act"].(float64)),
		zombies: int(obs["zombies"].(float64)), rss: r.Summary()["peak_rss_mib"].(float64)}
	for _, l := range r.Lines {
		if l["message"] == "escalation finished" {
			result := l["result"].(string)
			run.results = append(run.results, result)
			if result == "reaped" || result == "terminated" || result == "killed" {
				run.acted++
			}
			run.reaped += int(l["reaped"].(float64))
		}
	}
	return run
}

// runScript runs the runbook's script as its cron job does and returns its
// wall time.
func runScript(b *testing.B, path string) time.Duration {
	b.Helper()
	cmd := exec.Command("bash", path)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(t0)
	if err != nil {
		b.Fatalf("%s: %v\n%s", path, err, tail(out))
	}
	b.Logf("%s (%s):\n%s", filepath.Base(path), wall.Round(time.Millisecond), out)
	return wall
}

func zombiesOnNode(b *testing.B, table *proctable.ProcFS) int {
	snap, err := table.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for p := range snap.All() {
		if p.Zombie() {
			n++
		}
	}
	return n
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

// BenchmarkZombieReaperAtScale is the node of issue 18: 500,000 processes
// of which 465,000 zombies under five parents (one provider host was
// reported with 465,276). No machine here can start that many, so the
// reaper reads a generated /proc (--proc) on tmpfs, whose parents are real
// processes that drop their zombies when sent SIGCHLD. One --once run must
// find them all, send the signals and see the zombies go. Targets: the
// pass (scan and plan) under 5 s, the run under 128 MiB.
//
//	make bench
//	BENCH_PROCS=1000000 BENCH_ZOMBIES=930000 make bench   # other sizes
func BenchmarkZombieReaperAtScale(b *testing.B) {
	total, zombies := jobtest.EnvCount(b, "BENCH_PROCS", 500_000), jobtest.EnvCount(b, "BENCH_ZOMBIES", 465_000)
	const parents = 5
	if zombies%parents != 0 || zombies+2*parents+1 > total {
		b.Fatalf("BENCH_ZOMBIES=%d: want a multiple of %d that fits in BENCH_PROCS=%d", zombies, parents, total)
	}
	c := kubetest.Shared(b)
	tools := proctabletest.Build(b)
	bin := jobtest.Build(b, ".")
	for i := 0; i < b.N; i++ {
		dir := benchProcDir(b)
		start := time.Now()
		g := tools.Generate(b, dir, total, parents, zombies/parents)
		b.Logf("generated %d processes, %d zombies under %d parents in %s in %s", g.Processes, g.Zombies, parents, dir, time.Since(start).Round(time.Millisecond))

		run := runOnce(b, bin, c, "--proc", dir, "--sigchld-wait=60s")
		if run.parents != parents || run.zombies != zombies {
			b.Fatalf("want %d zombies under %d parents to act on, got %d under %d", zombies, parents, run.zombies, run.parents)
		}
		for _, result := range run.results {
			if result != "reaped" {
				b.Fatalf("escalations %v, want every one reaped", run.results)
			}
		}
		if run.reaped != zombies {
			b.Fatalf("reaped %d zombies, want %d", run.reaped, zombies)
		}
		scan, wall, rss, reaped := run.scan, run.wall, run.rss, run.reaped
		b.ReportMetric(float64(scan.Milliseconds())/1000, "pass-s")
		b.ReportMetric(wall.Seconds(), "run-s")
		b.ReportMetric(rss, "peak-RSS-MiB")
		b.Logf("%d processes, %d zombies under %d parents: pass %s, run %s (signals and waits included), peak RSS %.1f MiB, %d reaped",
			g.Processes, zombies, parents, scan.Round(time.Millisecond), wall.Round(time.Millisecond), rss, reaped)
	}
}

// benchProcDir is a fresh directory on tmpfs (/dev/shm) when there is one:
// a disk would measure the disk.
func benchProcDir(b *testing.B) string {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "zombie-reaper-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// tail is the end of a run's output, for a failure message.
func tail(out []byte) []byte {
	if len(out) > 4000 {
		return out[len(out)-4000:]
	}
	return out
}
