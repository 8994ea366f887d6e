package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

// The node the attribution test's pods run on; the process tests name it
// too, for their Events on the node.
const nodeName = "zombie-node"

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: nodeName, CPU: "4", Memory: "8Gi"}))
}

// reaperArgs are the flags of a fast run limited to this test's processes,
// so nothing outside the test is ever signalled.
func reaperArgs(c *kubetest.Cluster, extra ...string) []string {
	return append([]string{
		"--kubeconfig", c.KubeconfigPath,
		"--node-name", nodeName,
		"--within-pid", strconv.Itoa(os.Getpid()),
		"--metrics-addr", "",
		"--min-zombie-age=0s",
		// Generous waits: an escalation stops as soon as the zombies are
		// gone, and a loaded CI machine may take a while to reap them.
		"--sigchld-wait=2s", "--sigterm-wait=5s", "--sigkill-wait=5s",
	}, extra...)
}

func runReaper(t *testing.T, c *kubetest.Cluster, extra ...string) jobtest.Result {
	t.Helper()
	return jobtest.Run(t, jobtest.Build(t, "."), reaperArgs(c, extra...)...)
}

// auditOf returns the audit line about one process.
func auditOf(t *testing.T, r jobtest.Result, pid int) map[string]any {
	t.Helper()
	for _, l := range r.Actions("reap-zombies") {
		if strings.HasPrefix(l["subject"].(string), "process "+strconv.Itoa(pid)+" ") {
			return l
		}
	}
	return nil
}

// escalationOf returns the "escalation finished" line about one process.
func escalationOf(r jobtest.Result, pid int) map[string]any {
	for _, l := range r.With("message", "escalation finished") {
		if strings.HasPrefix(l["subject"].(string), "process "+strconv.Itoa(pid)+" ") {
			return l
		}
	}
	return nil
}

func TestReaperActsOnlyUnderContainerShims(t *testing.T) {
	c := kubetest.Shared(t)
	tools := proctabletest.Build(t)

	lazy := proctabletest.Start(t, tools.UnderShim(tools.Spawn(3, "never", false)))
	reaps := proctabletest.Start(t, tools.UnderShim(tools.Spawn(2, "sigchld", false)))
	stubborn := proctabletest.Start(t, tools.UnderShim(tools.Spawn(2, "never", true)))
	host := proctabletest.Start(t, tools.Spawn(2, "never", false))
	shimItself := proctabletest.Start(t, tools.UnderShim(append([]string{tools.Shim}, tools.Spawn(2, "never", false)[1:]...)))

	r := runReaper(t, c, "--once")
	require.Equal(t, 0, r.Code)

	// The lazy parent ignores SIGCHLD, ends on SIGTERM; the shim reaps its
	// zombies.
	assert.False(t, proctabletest.Alive(t, lazy.Parent))
	assert.Empty(t, proctabletest.Zombies(t, lazy.Parent))
	assert.True(t, proctabletest.Alive(t, lazy.Root), "the shim is never signalled")
	assert.Equal(t, "terminated", escalationOf(r, lazy.Parent)["result"])

	// A parent that reaps when asked is asked, not terminated.
	assert.True(t, proctabletest.Alive(t, reaps.Parent))
	assert.Empty(t, proctabletest.Zombies(t, reaps.Parent))
	assert.Equal(t, "reaped", escalationOf(r, reaps.Parent)["result"])
	assert.Equal(t, []any{"SIGCHLD"}, escalationOf(r, reaps.Parent)["signals"])

	// One that ignores SIGTERM takes SIGKILL.
	assert.False(t, proctabletest.Alive(t, stubborn.Parent))
	assert.Equal(t, "killed", escalationOf(r, stubborn.Parent)["result"])
	assert.Equal(t, []any{"SIGCHLD", "SIGTERM", "SIGKILL"}, escalationOf(r, stubborn.Parent)["signals"])

	// Outside containers, and the shim's own zombie children: untouched.
	assert.True(t, proctabletest.Alive(t, host.Parent))
	assert.Len(t, proctabletest.Zombies(t, host.Parent), 2)
	assert.True(t, proctabletest.Alive(t, shimItself.Parent))
	assert.Len(t, proctabletest.Zombies(t, shimItself.Parent), 2)
	assert.Nil(t, auditOf(t, r, host.Parent))
	assert.Nil(t, auditOf(t, r, shimItself.Parent))

	// One audit line per parent acted on, with the stable fields.
	for _, tree := range []*proctabletest.Tree{lazy, reaps, stubborn} {
		a := auditOf(t, r, tree.Parent)
		require.NotNil(t, a, "audit line for %d", tree.Parent)
		assert.Equal(t, "done", a["outcome"])
		assert.Equal(t, "ZombieProcesses", a["reason"])
		assert.Equal(t, false, a["dry_run"])
		assert.Equal(t, "zombie-reaper", a["job"])
	}
	obs := r.Message("observed")
	require.NotNil(t, obs)
	assert.EqualValues(t, 3, obs["parents_act"])
	assert.EqualValues(t, 2, obs["parents_ignored"])

	// Parents are escalated together: every SIGCHLD went out before the
	// first SIGTERM (one after the other, the first parent's SIGTERM would
	// come before the second parent's SIGCHLD).
	var order []string
	for _, l := range r.With("message", "signal sent") {
		order = append(order, l["signal"].(string))
	}
	require.Len(t, order, 6, "3 SIGCHLD, 2 SIGTERM, 1 SIGKILL")
	assert.Equal(t, []string{"SIGCHLD", "SIGCHLD", "SIGCHLD"}, order[:3])

	// The Events are on the node (these processes are in no pod).
	events, err := c.Kube.EventsV1().Events("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	onNode := 0
	for _, e := range events.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == nodeName && strings.Contains(e.Note, "process "+strconv.Itoa(lazy.Parent)+" ") {
			onNode++
		}
	}
	assert.Equal(t, 1, onNode)
}

func TestReaperThresholdsAndReportOnly(t *testing.T) {
	c := kubetest.Shared(t)
	tools := proctabletest.Build(t)
	two := proctabletest.Start(t, tools.UnderShim(tools.Spawn(2, "never", false)))

	r := runReaper(t, c, "--once", "--min-zombies=3")
	require.Equal(t, 0, r.Code)
	a := auditOf(t, r, two.Parent)
	require.NotNil(t, a)
	assert.Equal(t, "skipped", a["outcome"])
	assert.Equal(t, "2 zombies, fewer than --min-zombies=3", a["detail"])
	assert.True(t, proctabletest.Alive(t, two.Parent))

	// With --min-zombie-age, --once looks twice that far apart: zombies
	// there at the first look count.
	r = runReaper(t, c, "--once", "--dry-run", "--min-zombie-age=500ms")
	require.Equal(t, 0, r.Code)
	require.NotNil(t, r.Message("first look done; waiting --min-zombie-age before the pass"))
	a = auditOf(t, r, two.Parent)
	require.NotNil(t, a)
	assert.Equal(t, "planned", a["outcome"])
	assert.Equal(t, true, a["dry_run"])
	assert.Empty(t, r.With("message", "signal sent"), "report-only sends nothing")
	assert.True(t, proctabletest.Alive(t, two.Parent))
	assert.Len(t, proctabletest.Zombies(t, two.Parent), 2)

	// Paused: the pass plans as ever and sends nothing.
	r = runReaper(t, c, "--once", "--paused")
	require.Equal(t, 0, r.Code)
	a = auditOf(t, r, two.Parent)
	require.NotNil(t, a)
	assert.Equal(t, "skipped", a["outcome"])
	assert.Equal(t, "paused: --paused is set (the chart's global.pause)", a["detail"])
	assert.Empty(t, r.With("message", "signal sent"), "a paused reaper sends nothing")
	assert.Len(t, proctabletest.Zombies(t, two.Parent), 2)

	// The budget: one parent per pass.
	other := proctabletest.Start(t, tools.UnderShim(tools.Spawn(1, "never", false)))
	r = runReaper(t, c, "--once", "--max-actions=1")
	require.Equal(t, 0, r.Code)
	s := r.Summary()
	assert.EqualValues(t, 2, s["actions"])
	assert.EqualValues(t, 1, s["done"])
	assert.EqualValues(t, 1, s["skipped"])
	gone := 0
	for _, tree := range []*proctabletest.Tree{two, other} {
		if !proctabletest.Alive(t, tree.Parent) {
			gone++
		}
	}
	assert.Equal(t, 1, gone)
}

func TestReaperRejectsBadConfiguration(t *testing.T) {
	c := kubetest.Shared(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shim-comm=["}, `--shim-comm pattern \"[\": syntax error in pattern`},
		{[]string{"--shim-comm= , "}, "--shim-comm is empty"},
		{[]string{"--min-zombies=0"}, "--min-zombies=0: must be 1 or more"},
		{[]string{"--interval=0s"}, "--interval=0s: must be positive"},
		{[]string{"--jitter=2"}, "--jitter=2: must be between 0 and 1"},
		{[]string{"--proc=/nonexistent", "--once"}, "--proc=/nonexistent"},
	} {
		r := runReaper(t, c, tc.args...)
		assert.Equal(t, 2, r.Code, "%v", tc.args)
		assert.Contains(t, r.Raw, tc.want)
		assert.Empty(t, r.Actions("reap-zombies"))
	}
}

// The daemon: passes on an interval, /metrics and /healthz, a clean exit
// on SIGTERM.
func TestReaperLoopServesMetricsAndHealth(t *testing.T) {
	c := kubetest.Shared(t)
	tools := proctabletest.Build(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	args := reaperArgs(c, "--interval=200ms", "--metrics-addr="+addr)
	cmd := exec.Command(jobtest.Build(t, "."), args...)
	logFile, err := os.Create(t.TempDir() + "/log")
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The zombies exist before the daemon starts: a pass that caught the
	// tree half made would signal a parent not yet listening for SIGCHLD.
	tree := proctabletest.Start(t, tools.UnderShim(tools.Spawn(4, "sigchld", false)))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	metric := `akash_janitor_zombie_reaper_escalations_total{node="zombie-node",result="reaped"} 1`
	require.Eventually(t, func() bool { return strings.Contains(get(t, "http://"+addr+"/metrics"), metric) },
		30*time.Second, 100*time.Millisecond, "metrics never showed %s", metric)
	m := get(t, "http://"+addr+"/metrics")
	assert.Contains(t, m, `akash_janitor_zombie_reaper_signals_total{node="zombie-node",signal="SIGCHLD"} 1`)
	assert.Contains(t, m, `akash_janitor_zombie_reaper_reaped_total{node="zombie-node"} 4`)
	assert.Contains(t, m, `akash_janitor_zombie_reaper_scan_seconds{node="zombie-node"}`)
	assert.Equal(t, "ok\n", get(t, "http://"+addr+"/healthz"))
	assert.True(t, proctabletest.Alive(t, tree.Parent))
	passes := regexp.MustCompile(`akash_janitor_zombie_reaper_passes_total\{node="zombie-node",result="ok"\} (\d+)`)
	require.Eventually(t, func() bool {
		m := passes.FindStringSubmatch(get(t, "http://"+addr+"/metrics"))
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 3
	}, 30*time.Second, 100*time.Millisecond, "passes go on at --interval")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	waitErr := cmd.Wait()
	out, err := os.ReadFile(logFile.Name())
	require.NoError(t, err)
	require.NoError(t, waitErr, "SIGTERM ends the daemon cleanly\n%s", out)
	r := jobtest.Parse(t, string(out))
	assert.GreaterOrEqual(t, len(r.With("message", "pass summary")), 3, "a summary line per pass")
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
