// Package proctable reads a node's process table from /proc and signals
// processes by identity, a PID together with its start time, so that a PID
// the kernel has since given to another process is never signalled.
package proctable

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Process is one entry of the process table.
type Process struct {
	PID  int
	PPID int
	// Comm is the kernel's name for the process (at most 15 bytes, so
	// containerd-shim-runc-v2 reads "containerd-shim").
	Comm string
	// State is the one-letter state: R, S, D, Z (zombie), T...
	State string
	// Start is the start time in clock ticks after boot. A PID can be reused;
	// a PID and a start time together name one process for good.
	Start uint64
}

// Zombie tells whether the process has exited and waits for its parent to
// reap it.
func (p Process) Zombie() bool { return p.State == "Z" }

func (p Process) String() string { return fmt.Sprintf("%d (%s)", p.PID, p.Comm) }

// ErrGone is returned for a process that no longer exists.
var ErrGone = errors.New("process is gone")

// ErrRecycled is returned when a PID now names another process than the one
// that was observed.
var ErrRecycled = errors.New("PID now belongs to another process")

// Snapshot is the process table at one moment.
type Snapshot struct {
	Procs map[int]Process
	// Vanished counts processes that were listed but exited before they
	// could be read: normal on a busy node, never an error.
	Vanished int
	Taken    time.Time
	Elapsed  time.Duration
}

// Ancestors returns the chain of ancestors of pid, nearest first, up to the
// first process whose parent is not in the snapshot (PID 1 of the namespace,
// or a parent that exited).
func (s Snapshot) Ancestors(pid int) []Process {
	var chain []Process
	p, ok := s.Procs[pid]
	for ok && len(chain) < len(s.Procs) { // the bound stops a malformed loop
		p, ok = s.Procs[p.PPID]
		if ok {
			chain = append(chain, p)
		}
	}
	return chain
}

// Table is a process table: the seam between a job and the kernel.
type Table interface {
	// Snapshot reads every process.
	Snapshot() (Snapshot, error)
	// Lookup reads one process; ErrGone if it does not exist.
	Lookup(pid int) (Process, error)
	// Cgroups returns the cgroup paths of a process, one per hierarchy.
	Cgroups(pid int) ([]string, error)
	// Signal sends sig to p if, and only if, p.PID still names the process
	// that started at p.Start: ErrGone or ErrRecycled otherwise.
	Signal(p Process, sig syscall.Signal) error
}

// ProcFS is the Table of a mounted proc filesystem.
type ProcFS struct {
	root string
	dir  int // an open fd of root: stat files are opened relative to it
	fs   procfs.FS
	now  func() time.Time
}

// Open returns the process table mounted at root (usually /proc). With
// hostPID the container's /proc is the node's.
func Open(root string) (*ProcFS, error) {
	f, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("open the process table at %s: %w", root, err)
	}
	if _, err := os.Stat(root + "/self/stat"); err != nil {
		return nil, fmt.Errorf("open the process table at %s: not a proc filesystem: %w", root, err)
	}
	dir, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the process table at %s: %w", root, err)
	}
	return &ProcFS{root: root, dir: dir, fs: f, now: time.Now}, nil
}

// Close releases the table's open directory.
func (t *ProcFS) Close() error { return unix.Close(t.dir) }

// Snapshot reads every process. A process that exits while the table is
// being read is counted in Vanished and left out. The stat files are read by
// one worker per CPU: on a node of 10,000 processes, the kernel's work to
// produce them is most of a pass.
func (t *ProcFS) Snapshot() (Snapshot, error) {
	start := t.now()
	all, err := t.fs.AllProcs()
	if err != nil {
		return Snapshot{}, fmt.Errorf("list processes in %s: %w", t.root, err)
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(all)/256))
	type part struct {
		procs    []Process
		vanished int
		err      error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [4096]byte
			my := &parts[w]
			for i := w; i < len(all); i += workers {
				proc, err := t.readStat(all[i].PID, buf[:])
				switch {
				case errors.Is(err, ErrGone):
					my.vanished++
				case err != nil:
					my.err = err
					return
				default:
					my.procs = append(my.procs, proc)
				}
			}
		}()
	}
	wg.Wait()
	s := Snapshot{Procs: make(map[int]Process, len(all)), Taken: start}
	for _, p := range parts {
		if p.err != nil {
			return Snapshot{}, p.err
		}
		s.Vanished += p.vanished
		for _, proc := range p.procs {
			s.Procs[proc.PID] = proc
		}
	}
	s.Elapsed = t.now().Sub(start)
	return s, nil
}

// Lookup reads one process; ErrGone if it does not exist.
func (t *ProcFS) Lookup(pid int) (Process, error) {
	var buf [4096]byte
	return t.readStat(pid, buf[:])
}

// readStat reads /proc/<pid>/stat into buf with no more system calls than
// needed (open, read, close) and parses it.
func (t *ProcFS) readStat(pid int, buf []byte) (Process, error) {
	name := strconv.Itoa(pid) + "/stat"
	fd, err := unix.Openat(t.dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		var n int
		for {
			n, err = unix.Read(fd, buf)
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(fd)
		if err == nil && n == 0 {
			// Reaped between open and read: the kernel gives no line.
			return Process{}, fmt.Errorf("process %d: %w", pid, ErrGone)
		}
		if err == nil {
			p, perr := ParseStat(buf[:n])
			if perr != nil {
				return Process{}, fmt.Errorf("read %s/%s: %w", t.root, name, perr)
			}
			return p, nil
		}
	}
	// ENOENT: exited after the directory was listed. ESRCH: exited while its
	// stat file was open.
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return Process{}, fmt.Errorf("process %d: %w", pid, ErrGone)
	}
	return Process{}, fmt.Errorf("read %s/%s: %w", t.root, name, err)
}

// ParseStat parses the fields of a /proc/<pid>/stat line that a Process
// holds (proc(5): 1 pid, 2 comm in parentheses, 3 state, 4 ppid, 22
// starttime). comm may itself hold spaces and parentheses: it ends at the
// last ')'.
func ParseStat(b []byte) (Process, error) {
	l, r := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if l < 1 || r < l {
		return Process{}, fmt.Errorf("malformed stat line %q: no (comm)", clip(b))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:l])))
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: pid: %v", clip(b), err)
	}
	// Fields 3 onwards; starttime (22) is the 20th of them.
	f := bytes.Fields(b[r+1:])
	if len(f) < 20 {
		return Process{}, fmt.Errorf("malformed stat line %q: %d fields after comm, want at least 20", clip(b), len(f))
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: ppid: %v", clip(b), err)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: starttime: %v", clip(b), err)
	}
	return Process{PID: pid, PPID: ppid, Comm: string(b[l+1 : r]), State: string(f[0]), Start: start}, nil
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// Cgroups returns the cgroup paths of a process.
func (t *ProcFS) Cgroups(pid int) ([]string, error) {
	p, err := t.fs.Proc(pid)
	if err == nil {
		var cgs []procfs.Cgroup
		if cgs, err = p.Cgroups(); err == nil {
			paths := make([]string, 0, len(cgs))
			for _, c := range cgs {
				paths = append(paths, c.Path)
			}
			return paths, nil
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return nil, fmt.Errorf("process %d: %w", pid, ErrGone)
	}
	return nil, fmt.Errorf("read the cgroups of process %d: %w", pid, err)
}

// Signal sends sig to p after checking p is still the same process. Through
// a pidfd the check and the signal are about one process for certain: the fd
// is opened first, then the start time read; if it matches, the fd names p,
// whatever happens to the PID afterwards. On kernels without pidfds (before
// 5.3) the window between the check and kill(2) is as short as it can be.
func (t *ProcFS) Signal(p Process, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(p.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, ErrGone)
	case errors.Is(err, unix.ENOSYS):
		if err := t.same(p); err != nil {
			return fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, err)
		}
		if err := unix.Kill(p.PID, sig); err != nil {
			return signalError(p, sig, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("signal %s to %s: open pidfd: %w", unix.SignalName(sig), p, err)
	}
	defer unix.Close(fd)
	if err := t.same(p); err != nil {
		return fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, err)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return signalError(p, sig, err)
	}
	return nil
}

func (t *ProcFS) same(p Process) error {
	cur, err := t.Lookup(p.PID)
	if err != nil {
		return err
	}
	if cur.Start != p.Start {
		return fmt.Errorf("%w (started at tick %d, observed %d)", ErrRecycled, cur.Start, p.Start)
	}
	return nil
}

func signalError(p Process, sig syscall.Signal, err error) error {
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, ErrGone)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("signal %s to %s: %w (signalling another user's process needs CAP_KILL)", unix.SignalName(sig), p, err)
	}
	return fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, err)
}
