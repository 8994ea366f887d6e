package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// zombies shows zombie-reaper on real processes of this machine: two
// "containers" (process trees under a stand-in named like containerd's
// shim) whose main process leaves its children unreaped, and one process
// outside any container. The reaper is limited to the demo's own processes
// (--within-pid), so nothing else on the machine is ever signalled.
func (d *demo) zombies() error {
	say("zombie-reaper. On this machine, three processes with zombie children: two inside \"containers\"\n" +
		"(under a process named containerd-shim-runc-v2), one on the host. One container's process\n" +
		"never reaps; the other reaps when asked (SIGCHLD).")
	dir, err := os.MkdirTemp("", "akash-janitor-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	maker := filepath.Join(dir, "zombiemaker")
	if out, err := exec.Command("go", "build", "-o", maker, "./lib/proctable/proctabletest/zombiemaker").CombinedOutput(); err != nil {
		return fmt.Errorf("build zombiemaker: %v\n%s", err, out)
	}
	shim := filepath.Join(dir, "containerd-shim-runc-v2")
	if err := os.Link(maker, shim); err != nil {
		return err
	}
	trees := []struct {
		what string
		argv []string
	}{
		{"container A, never reaps", []string{shim, "shim", "--", maker, "spawn", "-zombies", "4", "-reap", "never"}},
		{"container B, reaps on SIGCHLD", []string{shim, "shim", "--", maker, "spawn", "-zombies", "3", "-reap", "sigchld"}},
		{"on the host, not in a container", []string{maker, "spawn", "-zombies", "2", "-reap", "never"}},
	}
	pids := make([]int, len(trees))
	for i, tr := range trees {
		pid, stop, err := startTree(tr.argv)
		if err != nil {
			return err
		}
		defer stop()
		pids[i] = pid
	}
	table, err := proctable.Open("/proc")
	if err != nil {
		return err
	}
	defer table.Close()
	show := func() {
		for i, pid := range pids {
			what := trees[i].what
			state := "running"
			if p, err := table.Lookup(pid); err != nil || p.Zombie() {
				state = "gone"
			}
			fmt.Printf("   process %-7d %-34s %-8s %d zombie children\n", pid, what, state, zombiesOf(table, pid))
		}
	}
	show()
	self := strconv.Itoa(os.Getpid())
	args := []string{"--node-name", "small-1", "--within-pid", self, "--once", "--min-zombie-age=0s",
		"--sigchld-wait=2s", "--sigterm-wait=2s", "--sigkill-wait=2s", "--metrics-addr="}
	say("zombie-reaper, report-only (--dry-run):")
	if err := d.runJob("zombie-reaper", append([]string{"--dry-run"}, args...)...); err != nil {
		return err
	}
	say("zombie-reaper, for real (waits shortened from 15s to 2s for the demo):")
	if err := d.runJob("zombie-reaper", args...); err != nil {
		return err
	}
	say("After: container A's process ended (its shim reaped the zombies), container B's process\n" +
		"reaped them itself and still runs, the host's process is untouched:")
	show()
	return nil
}

func startTree(argv []string) (int, func(), error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "ready" {
		stop()
		return 0, nil, fmt.Errorf("%v did not start: %q %v", argv, line, err)
	}
	pid, err := strconv.Atoi(f[1])
	return pid, stop, err
}

func zombiesOf(table proctable.Table, pid int) int {
	snap, err := table.Snapshot()
	if err != nil {
		return 0
	}
	n := 0
	for p := range snap.All() {
		if p.Zombie() && p.PPID == pid {
			n++
		}
	}
	return n
}
