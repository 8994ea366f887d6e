package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

// TestReaperNeedsOnlyCAPKILL runs the reaper as an unprivileged user against
// processes of root, as on a node where tenant processes belong to other
// users: reading their /proc entries needs no capability; signalling them
// needs CAP_KILL and nothing more. This is the evidence for the chart's
// securityContext (capabilities: drop ALL, add KILL).
func TestReaperNeedsOnlyCAPKILL(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run processes as another user (CI runs as root)")
	}
	c := kubetest.Shared(t)
	tools := proctabletest.Build(t)

	// The unprivileged user needs to reach the binary and the kubeconfig.
	dir, err := os.MkdirTemp("", "zombie-reaper-caps-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "zombie-reaper")
	copyFile(t, jobtest.Build(t, "."), bin, 0o755)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	copyFile(t, c.KubeconfigPath, kubeconfig, 0o644)

	run := func(caps ...uintptr) jobtest.Result {
		args := reaperArgs(c, "--once")
		args[1] = kubeconfig
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65532, Gid: 65532},
			AmbientCaps: caps,
		}
		t.Logf("as uid 65532 with capabilities %v", caps)
		return jobtest.RunCmd(t, cmd)
	}

	tree := proctabletest.Start(t, tools.UnderShim(tools.Spawn(2, "never", false)))

	r := run()
	assert.Equal(t, 1, r.Code, "without CAP_KILL the pass fails")
	a := auditOf(t, r, tree.Parent)
	require.NotNil(t, a, "it still read the process table and found the parent")
	assert.Equal(t, "failed", a["outcome"])
	assert.Contains(t, a["error"], "needs CAP_KILL")
	assert.True(t, proctabletest.Alive(t, tree.Parent))

	r = run(unix.CAP_KILL)
	assert.Equal(t, 0, r.Code)
	a = auditOf(t, r, tree.Parent)
	require.NotNil(t, a)
	assert.Equal(t, "done", a["outcome"])
	assert.False(t, proctabletest.Alive(t, tree.Parent))
	assert.Empty(t, proctabletest.Zombies(t, tree.Parent))
	assert.True(t, strings.Contains(r.Raw, `"result":"terminated"`))
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, mode))
}
