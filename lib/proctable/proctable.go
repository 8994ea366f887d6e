// Package proctable reads a node's process table from /proc and signals
// processes by identity, a PID together with its start time, so that a PID
// the kernel has since given to another process is never signalled.
package proctable

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"runtime"
	"slices"
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

// Snapshot is the process table at one moment, in PID order. It is kept
// as one slice (a node can hold half a million processes, most of them
// zombies): 56 bytes a process, looked up by binary search.
type Snapshot struct {
	procs []Process // sorted by PID, no duplicates
	// Vanished counts processes that were listed but exited before they
	// could be read: normal on a busy node, never an error.
	Vanished int
	Taken    time.Time
	Elapsed  time.Duration
}

// NewSnapshot is a snapshot of the given processes (in any order; a PID
// given twice keeps the last), taken at taken.
func NewSnapshot(taken time.Time, procs ...Process) Snapshot {
	ps := slices.Clone(procs)
	slices.SortStableFunc(ps, func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
	out := ps[:0]
	for i, p := range ps {
		if i+1 < len(ps) && ps[i+1].PID == p.PID {
			continue
		}
		out = append(out, p)
	}
	return Snapshot{procs: out, Taken: taken}
}

// Len is the number of processes.
func (s Snapshot) Len() int { return len(s.procs) }

// Get returns the process with this PID, if the snapshot has one.
func (s Snapshot) Get(pid int) (Process, bool) {
	i, ok := slices.BinarySearchFunc(s.procs, pid, func(p Process, pid int) int { return cmp.Compare(p.PID, pid) })
	if !ok {
		return Process{}, false
	}
	return s.procs[i], true
}

// All yields every process, in PID order.
func (s Snapshot) All() iter.Seq[Process] {
	return func(yield func(Process) bool) {
		for _, p := range s.procs {
			if !yield(p) {
				return
			}
		}
	}
}

// Ancestors returns the chain of ancestors of pid, nearest first, up to the
// first process whose parent is not in the snapshot (PID 1 of the namespace,
// or a parent that exited).
func (s Snapshot) Ancestors(pid int) []Process {
	var chain []Process
	p, ok := s.Get(pid)
	for ok && len(chain) < len(s.procs) { // the bound stops a malformed loop
		p, ok = s.Get(p.PPID)
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
// produce them is most of a pass. Memory is the snapshot itself, 56 bytes a
// process, and a list of PIDs: each worker fills its own slots of one slice,
// and a name shared by many processes (a parent's zombies) is kept once.
func (t *ProcFS) Snapshot() (Snapshot, error) {
	start := t.now()
	pids, err := t.pids()
	if err != nil {
		return Snapshot{}, fmt.Errorf("list processes in %s: %w", t.root, err)
	}
	slices.Sort(pids)
	procs := make([]Process, len(pids))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(pids)/256))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [4096]byte
			names := map[string]string{}
			for i := w; i < len(pids); i += workers {
				proc, err := t.readStat(int(pids[i]), buf[:], names)
				switch {
				case errors.Is(err, ErrGone):
					// PID 0 marks the slot empty: no process has it.
				case err != nil:
					errs[w] = err
					return
				default:
					procs[i] = proc
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{procs: procs[:0], Taken: start}
	for _, p := range procs {
		if p.PID == 0 {
			s.Vanished++
			continue
		}
		s.procs = append(s.procs, p)
	}
	s.Elapsed = t.now().Sub(start)
	return s, nil
}

// pids lists the numeric entries of the table's directory, read in batches
// so that half a million names never sit in memory as strings.
func (t *ProcFS) pids() ([]int32, error) {
	d, err := os.Open(t.root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var pids []int32
	for {
		names, err := d.Readdirnames(4096)
		for _, name := range names {
			if pid, err := strconv.ParseInt(name, 10, 32); err == nil && pid > 0 {
				pids = append(pids, int32(pid))
			}
		}
		if errors.Is(err, io.EOF) {
			return pids, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Lookup reads one process; ErrGone if it does not exist.
func (t *ProcFS) Lookup(pid int) (Process, error) {
	var buf [4096]byte
	return t.readStat(pid, buf[:], nil)
}

// readStat reads /proc/<pid>/stat into buf with no more system calls than
// needed (open, read, close) and parses it. names, if not nil, keeps one
// copy of each process name.
func (t *ProcFS) readStat(pid int, buf []byte, names map[string]string) (Process, error) {
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
			p, perr := parseStat(buf[:n], names)
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
func ParseStat(b []byte) (Process, error) { return parseStat(b, nil) }

func parseStat(b []byte, names map[string]string) (Process, error) {
	l, r := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if l < 1 || r < l {
		return Process{}, fmt.Errorf("malformed stat line %q: no (comm)", clip(b))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:l])))
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: pid: %v", clip(b), err)
	}
	// Fields 3 onwards; state is the 1st of them, ppid the 2nd, starttime
	// (22) the 20th. Scanned in place: a pass reads every process's line.
	var f [20][]byte
	n := 0
	for rest := b[r+1:]; n < len(f); n++ {
		i := 0
		for i < len(rest) && isSpace(rest[i]) {
			i++
		}
		j := i
		for j < len(rest) && !isSpace(rest[j]) {
			j++
		}
		if i == j {
			break
		}
		f[n], rest = rest[i:j], rest[j:]
	}
	if n < len(f) {
		return Process{}, fmt.Errorf("malformed stat line %q: %d fields after comm, want at least 20", clip(b), n)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: ppid: %v", clip(b), err)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return Process{}, fmt.Errorf("malformed stat line %q: starttime: %v", clip(b), err)
	}
	comm, ok := names[string(b[l+1:r])] // no allocation for the lookup
	if !ok {
		comm = string(b[l+1 : r])
		if names != nil && len(names) < 4096 {
			names[comm] = comm
		}
	}
	return Process{PID: pid, PPID: ppid, Comm: comm, State: string(f[0]), Start: start}, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' }

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
