// Package jobtest runs job binaries as processes, the way a CronJob or a
// DaemonSet does, and reads their JSON logs.
package jobtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	mu     sync.Mutex
	builds = map[string]string{}
	dir    string
)

// Build builds the main package pkg (a path as `go build` takes it, "." for
// the package under test) once per test binary and returns the binary's path.
// The binary is named after the package directory, as its comm shows it.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := builds[pkg]; ok {
		return bin
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "akash-janitor-bin-")
		require.NoError(t, err)
		dir = d
	}
	name := path.Base(pkg)
	if strings.HasPrefix(pkg, ".") {
		abs, err := filepath.Abs(pkg)
		require.NoError(t, err)
		name = filepath.Base(abs)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, out)
	builds[pkg] = bin
	return bin
}

// Result is a finished run: exit code and log lines.
type Result struct {
	Code  int
	Lines []map[string]any
	Raw   string
}

// Parse reads a run's log; every line must be JSON.
func Parse(t testing.TB, out string) Result {
	t.Helper()
	r := Result{Raw: out}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(l), &m), "every log line is JSON: %s", l)
		r.Lines = append(r.Lines, m)
	}
	return r
}

// Run runs bin with args to the end and parses its log.
func Run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	return RunCmd(t, exec.Command(bin, args...))
}

// RunCmd is Run for a command prepared by the caller (environment,
// credentials): its output, stdout and stderr merged, is parsed as the log.
func RunCmd(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code := exitCode(t, cmd.Run())
	r := Parse(t, out.String())
	r.Code = code
	t.Logf("%s %s -> exit %d\n%s", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), r.Code, r.Raw)
	return r
}

// Output runs a command to the end and returns its stdout, its stderr and
// its exit code; a command that cannot start fails the test.
func Output(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	code = exitCode(t, cmd.Run())
	return o.String(), e.String(), code
}

func exitCode(t testing.TB, err error) int {
	t.Helper()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// Actions returns the audit lines of one verb.
func (r Result) Actions(verb string) []map[string]any {
	return r.With("action", verb)
}

// With returns the lines whose field key equals value.
func (r Result) With(key string, value any) []map[string]any {
	var out []map[string]any
	for _, l := range r.Lines {
		if l[key] == value {
			out = append(out, l)
		}
	}
	return out
}

// Message returns the last line with this message, or nil.
func (r Result) Message(msg string) map[string]any {
	lines := r.With("message", msg)
	if len(lines) == 0 {
		return nil
	}
	return lines[len(lines)-1]
}

// Summary is the run summary line.
func (r Result) Summary() map[string]any { return r.Message("run summary") }

// RequestBreakdown is the debug line's per-verb API request counts.
func (r Result) RequestBreakdown() string {
	if l := r.Message("API requests made"); l != nil {
		return fmt.Sprint(l["api_requests"])
	}
	return ""
}
