package jobtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Runbook returns the path of one of the runbook's scripts in the directory
// BENCH_RUNBOOK names, for a benchmark that measures it beside the job it
// replaces. Without BENCH_RUNBOOK it returns "" and says how to get the
// comparison; a script missing from the directory, or a tool it needs
// missing from PATH, fails the benchmark.
func Runbook(b *testing.B, script string, tools ...string) string {
	b.Helper()
	dir := os.Getenv("BENCH_RUNBOOK")
	if dir == "" {
		fmt.Printf("%s: set BENCH_RUNBOOK to the directory holding the runbook's %s to measure it beside us\n", b.Name(), script)
		return ""
	}
	path := filepath.Join(dir, script)
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("BENCH_RUNBOOK=%s: %v", dir, err)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("the runbook's %s needs %s on PATH (apt-get install %s): %v", script, tool, tool, err)
		}
	}
	return path
}

// Side is one side of a comparison: a run of the runbook's script or of
// the job, on the same cluster or process tree.
type Side struct {
	Name     string
	Wall     time.Duration
	Requests int // API requests; -1: not applicable
	Outcome  string
}

// PrintComparison prints the two sides and their ratios as one table, on
// stdout, where `make bench` shows it.
func PrintComparison(title string, script, job Side) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", title)
	fmt.Fprintf(&b, "| %-40s | %12s | %12s | %s\n", "", "wall", "API requests", "outcome")
	row := func(s Side) {
		req := "-"
		if s.Requests >= 0 {
			req = fmt.Sprint(s.Requests)
		}
		fmt.Fprintf(&b, "| %-40s | %12s | %12s | %s\n", s.Name, s.Wall.Round(time.Millisecond), req, s.Outcome)
	}
	row(script)
	row(job)
	ratio := func(a, b float64) string {
		if b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0fx", a/b)
	}
	req := "-"
	if script.Requests >= 0 && job.Requests > 0 {
		req = ratio(float64(script.Requests), float64(job.Requests))
	}
	fmt.Fprintf(&b, "| %-40s | %12s | %12s |\n", "script / job", ratio(script.Wall.Seconds(), job.Wall.Seconds()), req)
	fmt.Print(b.String())
}

// EnvCount is the positive whole number in the environment variable name
// (a benchmark's size), or def when it is unset; anything else fails the
// benchmark with the variable's name.
func EnvCount(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
