// zombiemaker makes the process trees the zombie reaper's tests need, with
// real processes:
//
//	zombiemaker spawn [-zombies N] [-reap never|sigchld] [-ignore-term]
//	    makes N children that exit at once and leaves them unreaped (or reaps
//	    them only on a SIGCHLD that arrives after they are all zombies), prints
//	    "ready <pid>" and sleeps.
//	zombiemaker shim -- CMD ARGS...
//	    behaves like a container shim: a child subreaper that runs CMD and
//	    reaps every child it gets. Run a copy named containerd-shim-runc-v2.
//	zombiemaker nsinit [-bg "CMD ARGS"]... -- CMD ARGS...
//	    PID 1 of a new PID and mount namespace: mounts a fresh /proc, starts
//	    each -bg command and waits for its "ready" line, runs CMD to the end,
//	    then prints the namespace's process table as JSON lines and exits.
//	zombiemaker fakeparent -proc DIR -zombies FIRST:COUNT
//	    a real process standing for the parent of COUNT zombies of a
//	    generated process table at DIR (PIDs FIRST onwards): prints "ready
//	    <pid>" and, on SIGCHLD, removes their entries from DIR, as the kernel
//	    removes a zombie its parent reaps.
//	zombiemaker exit
//	    exits at once (the child spawn makes).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: zombiemaker spawn|shim|nsinit|exit [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "exit":
		return
	case "spawn":
		err = spawn(os.Args[2:])
	case "shim":
		err = shim(os.Args[2:])
	case "nsinit":
		err = nsinit(os.Args[2:])
	case "fakeparent":
		err = fakeParent(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "zombiemaker:", err)
	os.Exit(2)
}

func spawn(args []string) error {
	fs := flag.NewFlagSet("spawn", flag.ContinueOnError)
	n := fs.Int("zombies", 3, "children to leave unreaped")
	reap := fs.String("reap", "never", "never, or sigchld: reap on a SIGCHLD that comes after the zombies are made")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM, so only SIGKILL ends the process")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	chld := make(chan os.Signal, 64)
	if *reap == "sigchld" {
		signal.Notify(chld, syscall.SIGCHLD)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pids := make([]int, 0, *n)
	for i := 0; i < *n; i++ {
		cmd := exec.Command(self, "exit")
		if err := cmd.Start(); err != nil {
			return err
		}
		pids = append(pids, cmd.Process.Pid) // never waited for
	}
	// Ready when every child is a zombie.
	table, err := proctable.Open("/proc")
	if err != nil {
		return err
	}
	for _, pid := range pids {
		for {
			p, err := table.Lookup(pid)
			if err != nil {
				return err
			}
			if p.Zombie() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Forget the SIGCHLDs of the children's own exits: only a later one,
	// sent by the reaper, makes this process reap. The runtime hands
	// signals over a little later, so wait until none came for a while.
	if *reap == "sigchld" {
		for settled := false; !settled; {
			select {
			case <-chld:
			case <-time.After(300 * time.Millisecond):
				settled = true
			}
		}
	}
	fmt.Printf("ready %d\n", os.Getpid())
	if *reap != "sigchld" {
		for {
			time.Sleep(time.Hour)
		}
	}
	for range chld {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return nil
}

func shim(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("shim: no command")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	reapAll(-1)
	return nil
}

// reapAll reaps every child as it exits, forever (until == -1) or until the
// child until has exited, whose exit code it returns.
func reapAll(until int) int {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if until == -1 {
				time.Sleep(100 * time.Millisecond) // no children yet or any more
				continue
			}
			return 1
		}
		if pid == until {
			return ws.ExitStatus()
		}
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ";") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func nsinit(args []string) error {
	fs := flag.NewFlagSet("nsinit", flag.ContinueOnError)
	var bg multi
	fs.Var(&bg, "bg", "a background command, split on spaces; waits for its \"ready\" line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("nsinit must be PID 1 of a new PID namespace, is %d", os.Getpid())
	}
	// A private mount tree, then a /proc that shows this namespace only.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, line := range bg {
		f := strings.Fields(line)
		cmd := exec.Command(f[0], f[1:]...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		r := bufio.NewReader(out)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "ready") {
			return fmt.Errorf("%q did not get ready: %q %v", line, l, err)
		}
		fmt.Fprintf(os.Stderr, "nsinit: %s is ready\n", f[0])
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("nsinit: no command")
	}
	cmd := exec.Command(rest[0], rest[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	code := reapAll(cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "nsinit: command exited %d\n", code)
	time.Sleep(200 * time.Millisecond) // let orphans reparented to us go
	table, err := proctable.Open("/proc")
	if err != nil {
		return err
	}
	snap, err := table.Snapshot()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for p := range snap.All() {
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	fmt.Printf("{\"exit\":%d}\n", code)
	return nil
}

func fakeParent(args []string) error {
	fs := flag.NewFlagSet("fakeparent", flag.ContinueOnError)
	dir := fs.String("proc", "", "the generated process table")
	zombies := fs.String("zombies", "", "FIRST:COUNT, the PIDs of this parent's zombies in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	first, count, ok := strings.Cut(*zombies, ":")
	from, err1 := strconv.Atoi(first)
	n, err2 := strconv.Atoi(count)
	if *dir == "" || !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("fakeparent: want -proc DIR -zombies FIRST:COUNT, got %q %q", *dir, *zombies)
	}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	fmt.Printf("ready %d\n", os.Getpid())
	<-chld
	for pid := from; pid < from+n; pid++ {
		if err := os.RemoveAll(filepath.Join(*dir, strconv.Itoa(pid))); err != nil {
			return err
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
