// Package proctabletest starts real process trees with zombies for tests:
// parents that never reap, parents that reap on SIGCHLD, and a stand-in for
// the container shim, built from the zombiemaker helper program.
package proctabletest

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// ShimName is the name the shim stand-in runs under; its comm is
// "containerd-shim", as the real containerd-shim-runc-v2's.
const ShimName = "containerd-shim-runc-v2"

// Tools are the helper binaries.
type Tools struct {
	// Maker is zombiemaker.
	Maker string
	// Shim is a copy of zombiemaker named like the containerd shim.
	Shim string
}

// Build builds zombiemaker (once per test binary) and its shim-named copy.
func Build(t testing.TB) Tools {
	t.Helper()
	maker := jobtest.Build(t, "github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest/zombiemaker")
	shim := filepath.Join(filepath.Dir(maker), ShimName)
	if _, err := os.Stat(shim); err != nil {
		b, err := os.ReadFile(maker)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(shim, b, 0o755))
	}
	return Tools{Maker: maker, Shim: shim}
}

// Spawn is the argv of a parent with n zombie children. reap is "never" or
// "sigchld"; ignoreTerm makes it survive SIGTERM.
func (tl Tools) Spawn(n int, reap string, ignoreTerm bool) []string {
	argv := []string{tl.Maker, "spawn", "-zombies", strconv.Itoa(n), "-reap", reap}
	if ignoreTerm {
		argv = append(argv, "-ignore-term")
	}
	return argv
}

// UnderShim wraps argv so it runs under the shim stand-in.
func (tl Tools) UnderShim(argv []string) []string {
	return append([]string{tl.Shim, "shim", "--"}, argv...)
}

// Tree is a started process tree.
type Tree struct {
	// Root is the process started (the shim, when wrapped).
	Root int
	// Parent is the process that made the zombies (it printed "ready").
	Parent int
	cmd    *exec.Cmd
}

// Start starts argv in its own process group, waits until its zombies exist,
// and kills the whole group when the test ends.
func Start(t testing.TB, argv []string, opts ...func(*exec.Cmd)) *Tree {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	for _, o := range opts {
		o(cmd)
	}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	tree := &Tree{Root: cmd.Process.Pid, cmd: cmd}
	t.Cleanup(func() {
		_ = syscall.Kill(-tree.Root, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		f := strings.Fields(line)
		require.True(t, len(f) == 2 && f[0] == "ready", "%v did not get ready: %q", argv, line)
		tree.Parent, err = strconv.Atoi(f[1])
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not get ready in 30s", argv)
	}
	return tree
}

// Zombies returns the PIDs of pid's zombie children.
func Zombies(t testing.TB, pid int) []int {
	t.Helper()
	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	snap, err := table.Snapshot()
	require.NoError(t, err)
	var out []int
	for _, p := range snap.Procs {
		if p.Zombie() && p.PPID == pid {
			out = append(out, p.PID)
		}
	}
	return out
}

// Alive tells whether pid exists and is not a zombie.
func Alive(t testing.TB, pid int) bool {
	t.Helper()
	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	p, err := table.Lookup(pid)
	if errors.Is(err, proctable.ErrGone) {
		return false
	}
	require.NoError(t, err)
	return !p.Zombie()
}
