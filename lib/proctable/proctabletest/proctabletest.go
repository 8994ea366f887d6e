// Package proctabletest starts real process trees with zombies for tests:
// parents that never reap, parents that reap on SIGCHLD, and a stand-in for
// the container shim, built from the zombiemaker helper program.
package proctabletest

import (
	"bufio"
	"errors"
	"fmt"
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
	for p := range snap.All() {
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

// Generated is a process table written to disk in /proc's format (the stat
// files the reaper reads), for process counts no test machine can start.
type Generated struct {
	// Dir is the table's root: the reaper's --proc.
	Dir string
	// Parents are the zombies' parents: real processes (zombiemaker
	// fakeparent) that remove their zombies' entries on SIGCHLD.
	Parents []*Tree
	// Processes and Zombies count the table's entries.
	Processes, Zombies int
}

// FakePIDBase is where the generated table's own PIDs start: above the
// largest PID a Linux kernel gives (2^22), so a signal sent by one of them
// could reach no process. Only the parents have real PIDs.
const FakePIDBase = 5_000_000

// Generate writes a process table of total processes under dir: PID 1, one
// container shim per parent, the parents (real processes, started here)
// with zombiesPerParent zombies each, and sleepers under the shims for the
// rest.
func (tl Tools) Generate(t testing.TB, dir string, total, parents, zombiesPerParent int) Generated {
	t.Helper()
	g := Generated{Dir: dir}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "self"), 0o755))
	next := FakePIDBase
	type entry struct {
		pid, ppid int
		comm      string
		state     byte
	}
	entries := []entry{{pid: 1, comm: "systemd", state: 'S'}}
	var shims []int
	for i := 0; i < parents; i++ {
		shim := next
		next++
		shims = append(shims, shim)
		first := next
		next += zombiesPerParent
		parent := Start(t, []string{tl.Maker, "fakeparent", "-proc", dir, "-zombies", strconv.Itoa(first) + ":" + strconv.Itoa(zombiesPerParent)})
		g.Parents = append(g.Parents, parent)
		entries = append(entries,
			entry{pid: shim, ppid: 1, comm: "containerd-shim", state: 'S'},
			entry{pid: parent.Parent, ppid: shim, comm: "app", state: 'S'})
		for z := first; z < first+zombiesPerParent; z++ {
			entries = append(entries, entry{pid: z, ppid: parent.Parent, comm: "worker", state: 'Z'})
		}
		g.Zombies += zombiesPerParent
	}
	for len(entries) < total {
		entries = append(entries, entry{pid: next, ppid: shims[len(entries)%len(shims)], comm: "sleep", state: 'S'})
		next++
	}
	g.Processes = len(entries)

	// Two writers: the files are small and tmpfs is quick, the system
	// calls are the cost.
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		go func() {
			var line []byte
			for i := w; i < len(entries); i += 2 {
				e := entries[i]
				d := filepath.Join(dir, strconv.Itoa(e.pid))
				if err := os.Mkdir(d, 0o755); err != nil {
					errs <- err
					return
				}
				// proc(5): 52 fields; starttime (22) in clock ticks.
				line = fmt.Appendf(line[:0], "%d (%s) %c %d %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
					e.pid, e.comm, e.state, e.ppid, e.pid, e.pid, 1000+i)
				if err := os.WriteFile(filepath.Join(d, "stat"), line, 0o444); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	require.NoError(t, errors.Join(<-errs, <-errs))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "self", "stat"), []byte("1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n"), 0o444))
	return g
}

// Kill ends the tree's whole process group now.
func (tr *Tree) Kill() {
	_ = syscall.Kill(-tr.Root, syscall.SIGKILL)
	_ = tr.cmd.Wait()
}
