package proctable_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/proctable"
	"github.com/akash-janitor/akash-janitor/lib/proctable/proctabletest"
)

func TestSnapshotSeesZombiesAndTheirAncestors(t *testing.T) {
	tools := proctabletest.Build(t)
	tree := proctabletest.Start(t, tools.UnderShim(tools.Spawn(3, "never", false)))

	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	snap, err := table.Snapshot()
	require.NoError(t, err)

	var zombies []proctable.Process
	for p := range snap.All() {
		if p.Zombie() && p.PPID == tree.Parent {
			zombies = append(zombies, p)
		}
	}
	assert.Len(t, zombies, 3)
	chain := snap.Ancestors(tree.Parent)
	require.GreaterOrEqual(t, len(chain), 2)
	assert.Equal(t, tree.Root, chain[0].PID)
	assert.Equal(t, "containerd-shim", chain[0].Comm, "comm is the name truncated to 15 bytes")
	assert.Equal(t, os.Getpid(), chain[1].PID)
	parent, ok := snap.Get(tree.Parent)
	require.True(t, ok)
	assert.NotZero(t, parent.Start)
}

func TestSignalChecksTheProcessIsTheOneObserved(t *testing.T) {
	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	sleeper := exec.Command("sleep", "60")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })

	observed, err := table.Lookup(sleeper.Process.Pid)
	require.NoError(t, err)

	// The same PID with another start time is what a recycled PID looks
	// like: nothing is sent.
	recycled := observed
	recycled.Start++
	err = table.Signal(recycled, syscall.SIGTERM)
	require.ErrorIs(t, err, proctable.ErrRecycled)
	assert.Contains(t, err.Error(), "SIGTERM")
	time.Sleep(100 * time.Millisecond)
	assert.True(t, proctabletest.Alive(t, observed.PID), "a recycled PID is never signalled")

	require.NoError(t, table.Signal(observed, syscall.SIGTERM))
	err = sleeper.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, syscall.SIGTERM, exit.Sys().(syscall.WaitStatus).Signal())

	err = table.Signal(observed, syscall.SIGTERM)
	assert.ErrorIs(t, err, proctable.ErrGone, "a reaped process is gone")
	_, err = table.Lookup(observed.PID)
	assert.ErrorIs(t, err, proctable.ErrGone)
}

func TestOpenRejectsWhatIsNotProc(t *testing.T) {
	_, err := proctable.Open(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a proc filesystem")
}

func TestCgroups(t *testing.T) {
	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	paths, err := table.Cgroups(os.Getpid())
	require.NoError(t, err)
	assert.NotEmpty(t, paths)
	_, err = table.Cgroups(1 << 30)
	assert.ErrorIs(t, err, proctable.ErrGone)
}

func TestParseStat(t *testing.T) {
	// A zombie whose comm holds a space and a parenthesis, as a tenant can
	// name a process anything.
	line := "4242 (evil) Z (x) Z 4200 4242 4200 0 -1 4228164 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	p, err := proctable.ParseStat([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, proctable.Process{PID: 4242, PPID: 4200, Comm: "evil) Z (x", State: "Z", Start: 987654}, p)
	assert.True(t, p.Zombie())

	for name, bad := range map[string]string{
		"empty":       "",
		"no comm":     "4242 bash S 1",
		"short":       "4242 (bash) S 1 2 3",
		"bad pid":     "x (bash) S 1 4242 4200 0 -1 4228164 0 0 0 0 0 0 0 0 20 0 1 0 987654 0",
		"bad ppid":    "4242 (bash) S one 4242 4200 0 -1 4228164 0 0 0 0 0 0 0 0 20 0 1 0 987654 0",
		"bad start":   "4242 (bash) S 1 4242 4200 0 -1 4228164 0 0 0 0 0 0 0 0 20 0 1 0 -5 0",
		"only parens": ")(",
	} {
		_, err := proctable.ParseStat([]byte(bad))
		assert.Error(t, err, name)
		if err != nil {
			assert.Contains(t, err.Error(), "malformed stat line", name)
		}
	}
}

// Processes come and go while the table is read: a snapshot taken meanwhile
// leaves the ones that vanished out and never fails because of them.
func TestSnapshotWhileProcessesComeAndGo(t *testing.T) {
	table, err := proctable.Open("/proc")
	require.NoError(t, err)
	defer table.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command("true").Run()
			}
		}
	}()
	for i := 0; i < 50; i++ {
		snap, err := table.Snapshot()
		require.NoError(t, err, "pass %d", i)
		require.NotZero(t, snap.Len())
		_, err = table.Lookup(1 << 30)
		require.ErrorIs(t, err, proctable.ErrGone)
	}
	close(stop)
	<-done
}

// A table read from a directory in /proc's format: PID order whatever the
// directory's, an entry without its stat file counted as vanished, names
// that are not PIDs ignored, a malformed line an error naming its file.
func TestSnapshotOfADirectory(t *testing.T) {
	dir := t.TempDir()
	stat := func(pid, ppid int, comm, state string) {
		d := filepath.Join(dir, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(d, 0o755))
		line := fmt.Sprintf("%d (%s) %s %d 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, comm, state, ppid, 1000+pid)
		require.NoError(t, os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o444))
	}
	stat(1, 0, "init", "S") // also what Open needs as self/stat
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "self"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "self", "stat"), []byte("1 (init) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1001 0 0\n"), 0o444))
	for _, pid := range []int{300, 20, 4000} {
		stat(pid, 1, "worker", "Z")
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "55"), 0o755)) // exited before its stat was read
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sys"), 0o755))

	table, err := proctable.Open(dir)
	require.NoError(t, err)
	defer table.Close()
	snap, err := table.Snapshot()
	require.NoError(t, err)
	var pids []int
	for p := range snap.All() {
		pids = append(pids, p.PID)
	}
	assert.Equal(t, []int{1, 20, 300, 4000}, pids)
	assert.Equal(t, 4, snap.Len())
	assert.Equal(t, 1, snap.Vanished)
	p, ok := snap.Get(300)
	require.True(t, ok)
	assert.Equal(t, proctable.Process{PID: 300, PPID: 1, Comm: "worker", State: "Z", Start: 1300}, p)
	_, ok = snap.Get(55)
	assert.False(t, ok)
	assert.Equal(t, []proctable.Process{{PID: 1, Comm: "init", State: "S", Start: 1001}}, snap.Ancestors(300))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "55", "stat"), []byte("55 (half"), 0o444))
	_, err = table.Snapshot()
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "55", "stat"))
}

func TestNewSnapshotSortsAndKeepsTheLastOfAPID(t *testing.T) {
	s := proctable.NewSnapshot(time.Time{},
		proctable.Process{PID: 9, Comm: "b"}, proctable.Process{PID: 3, Comm: "a"}, proctable.Process{PID: 9, Comm: "c"})
	var got []proctable.Process
	for p := range s.All() {
		got = append(got, p)
	}
	assert.Equal(t, []proctable.Process{{PID: 3, Comm: "a"}, {PID: 9, Comm: "c"}}, got)
}
