package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

// TestReaperInItsOwnPIDNamespace runs the whole scenario, the reaper
// included, in a new PID namespace with its own /proc: the reaper sees, and
// could signal, nothing but the scenario. Here it runs without --within-pid,
// as on a node: the namespace's PID 1 plays the host's.
func TestReaperInItsOwnPIDNamespace(t *testing.T) {
	c := kubetest.Shared(t)
	tools := proctabletest.Build(t)
	reaper := jobtest.Build(t, ".")

	args := []string{"nsinit",
		"-bg", strings.Join(tools.UnderShim(tools.Spawn(3, "never", false)), " "),
		"-bg", strings.Join(tools.Spawn(2, "never", false), " "),
		"--", reaper, "--once", "--kubeconfig", c.KubeconfigPath, "--node-name", nodeName, "--metrics-addr", "",
		"--min-zombie-age=0s", "--sigchld-wait=2s", "--sigterm-wait=5s", "--sigkill-wait=5s"}
	cmd := exec.Command(tools.Maker, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	if os.Geteuid() != 0 {
		// Without root, a user namespace grants what the new PID and mount
		// namespaces need.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("reaper and nsinit log:\n%s", stderr.String())
	require.NoError(t, err, "this machine must allow a new PID namespace")

	// nsinit printed the namespace's process table after the reaper's pass.
	procs := map[int]proctable.Process{}
	exit := -1
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var p struct {
			proctable.Process
			Exit *int `json:"exit"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &p), line)
		if p.Exit != nil {
			exit = *p.Exit
			continue
		}
		procs[p.PID] = p.Process
	}
	require.Equal(t, 0, exit, "the reaper's exit code")

	var shim proctable.Process
	zombiesOf := map[int]int{}
	for _, p := range procs {
		if p.Comm == "containerd-shim" {
			shim = p
		}
		if p.Zombie() {
			zombiesOf[p.PPID]++
		}
	}
	require.NotZero(t, shim.PID, "the shim lives")
	for ppid, n := range zombiesOf {
		parent := procs[ppid]
		assert.Equal(t, 1, parent.PPID, "the only zombies left are those of the parent outside containers")
		assert.Equal(t, 2, n)
	}
	assert.Len(t, zombiesOf, 1)
	for _, p := range procs {
		assert.NotEqual(t, shim.PID, p.PPID, "the shim's child ended on SIGTERM and its zombies were reaped: %v", p)
	}

	log := jobtest.Parse(t, onlyJSON(stderr.String()))
	obs := log.Message("observed")
	require.NotNil(t, obs)
	assert.EqualValues(t, 5, obs["zombies"])
	assert.EqualValues(t, 1, obs["parents_act"])
	assert.EqualValues(t, 1, obs["parents_ignored"])
}

// onlyJSON drops nsinit's own plain lines from a mixed log.
func onlyJSON(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
