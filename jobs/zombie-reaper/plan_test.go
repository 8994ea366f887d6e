package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// table builds a snapshot from "pid ppid comm state" rows.
func table(rows ...proctable.Process) proctable.Snapshot {
	procs := make([]proctable.Process, 0, len(rows))
	for i, r := range rows {
		if r.State == "" {
			r.State = "S"
		}
		if r.Start == 0 {
			r.Start = uint64(1000 + i)
		}
		procs = append(procs, r)
	}
	return proctable.NewSnapshot(time.Time{}, procs...)
}

func proc(pid, ppid int, comm string) proctable.Process {
	return proctable.Process{PID: pid, PPID: ppid, Comm: comm}
}

func zombie(pid, ppid int) proctable.Process {
	return proctable.Process{PID: pid, PPID: ppid, Comm: "sshd", State: "Z"}
}

var defaultRules = rules{shimComms: []string{"containerd-shim*"}, minAge: time.Minute, minZombies: 1, self: 9999}

// node is a node's process table: systemd, containerd, two shims with
// containers, a host daemon with zombies, and the reaper's own container.
func node(extra ...proctable.Process) proctable.Snapshot {
	rows := []proctable.Process{
		proc(1, 0, "systemd"),
		proc(50, 1, "containerd"),
		proc(100, 1, "containerd-shim"), // containerd-shim-runc-v2, truncated
		proc(101, 100, "pause"),
		proc(102, 100, "bash"), // a tenant container's PID 1
		proc(103, 102, "sshd-wrapper"),
		proc(200, 1, "containerd-shim"),
		proc(201, 200, "nginx"),
		proc(300, 1, "cron"), // on the host, outside containers
		proc(9000, 1, "containerd-shim"),
		proc(9999, 9000, "zombie-reaper"),
	}
	return table(append(rows, extra...)...)
}

func planned(t *testing.T, snap proctable.Snapshot, r rules, seenAgo time.Duration) map[int]parent {
	t.Helper()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	book := newAgeBook()
	book.update(snap, now.Add(-seenAgo))
	out := map[int]parent{}
	for _, p := range plan(snap, book, now, r) {
		out[p.proc.PID] = p
	}
	return out
}

func TestPlanActsOnlyOnParentsInsideContainers(t *testing.T) {
	snap := node(
		zombie(1001, 102), zombie(1002, 102), // under the tenant's bash: act
		zombie(1003, 103),  // under a grandchild of the shim: act
		zombie(1004, 100),  // the shim's own child: never
		zombie(1005, 300),  // host cron: never
		zombie(1006, 1),    // host init: never
		zombie(1007, 9999), // the reaper's own: never
	)
	got := planned(t, snap, defaultRules, 2*time.Minute)

	require.Len(t, got, 6)
	assert.True(t, got[102].act)
	assert.Len(t, got[102].zombies, 2)
	assert.Equal(t, 100, got[102].shim.PID)
	assert.True(t, got[103].act)
	assert.Contains(t, got[100].ignore, "container shim itself")
	assert.Contains(t, got[300].ignore, "not inside a container")
	assert.Contains(t, got[1].ignore, "PID 1")
	assert.Contains(t, got[9999].ignore, "reaper itself")
	for _, pid := range []int{100, 300, 1, 9999} {
		assert.False(t, got[pid].act, "pid %d", pid)
	}
}

func TestPlanThresholds(t *testing.T) {
	snap := node(zombie(1001, 102), zombie(1002, 102), zombie(1003, 201))

	young := planned(t, snap, defaultRules, 30*time.Second)
	assert.False(t, young[102].act)
	assert.Contains(t, young[102].hold, "0 of 2 zombies seen for --min-zombie-age=1m0s")

	old := planned(t, snap, defaultRules, time.Minute)
	assert.True(t, old[102].act, "a zombie seen exactly --min-zombie-age ago counts")

	three := defaultRules
	three.minZombies = 3
	few := planned(t, snap, three, time.Hour)
	assert.False(t, few[102].act)
	assert.Equal(t, "2 zombies, fewer than --min-zombies=3", few[102].hold)
	assert.False(t, few[201].act)
}

func TestPlanCountsOnlyRipeZombiesTowardsTheMinimum(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	first := node(zombie(1001, 102))
	book := newAgeBook()
	book.update(first, now.Add(-5*time.Minute))
	second := node(zombie(1001, 102), zombie(1002, 102))
	book.update(second, now)
	r := defaultRules
	r.minZombies = 2

	ps := plan(second, book, now, r)
	require.Len(t, ps, 1)
	assert.False(t, ps[0].act, "one old and one new zombie are not two old ones")
	assert.Equal(t, 1, ps[0].ripe)
	assert.Equal(t, 5*time.Minute, ps[0].oldest)
}

func TestAgeBookForgetsReapedZombiesAndKnowsRecycledPIDs(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	book := newAgeBook()
	z := zombie(1001, 102)
	z.Start = 500
	book.update(node(z), now.Add(-time.Hour))
	assert.Equal(t, time.Hour, book.age(idOf(z), now))

	// The zombie is reaped, and PID 1001 is later a new zombie: a new age.
	book.update(node(), now.Add(-time.Minute))
	z2 := z
	z2.Start = 900
	book.update(node(z2), now)
	assert.Equal(t, time.Duration(0), book.age(idOf(z2), now))
	assert.Equal(t, time.Duration(0), book.age(identity{1001, 500}, now))
	assert.Len(t, book.seen, 1, "the reaped zombie is forgotten")
}

func TestPlanWithinPID(t *testing.T) {
	snap := node(zombie(1001, 102), zombie(1003, 201))
	r := defaultRules
	r.withinPID = 200
	got := planned(t, snap, r, time.Hour)
	assert.NotContains(t, got, 102, "outside --within-pid's subtree: not even reported")
	assert.True(t, got[201].act)

	// A subtree is a world of its own: a shim above it does not count.
	r.withinPID = 201
	snap = node(proc(202, 201, "app"), zombie(1004, 202))
	got = planned(t, snap, r, time.Hour)
	assert.Contains(t, got[202].ignore, "not inside a container")
}

func TestPlanShimPatterns(t *testing.T) {
	snap := node(proc(400, 1, "conmon"), proc(401, 400, "app"), zombie(1001, 401))
	got := planned(t, snap, defaultRules, time.Hour)
	assert.Contains(t, got[401].ignore, "not inside a container")

	r := defaultRules
	r.shimComms = []string{"containerd-shim*", "conmon"}
	got = planned(t, snap, r, time.Hour)
	assert.True(t, got[401].act, "CRI-O's conmon, once configured, counts as a shim")
}

func TestPlanParentThatExitedIsLeftForTheNextPass(t *testing.T) {
	snap := node(zombie(1001, 4242)) // 4242 is not in the table any more
	assert.Empty(t, planned(t, snap, defaultRules, time.Hour))
}

func TestCgroupPod(t *testing.T) {
	cid := "4d2b4c0d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3"
	for name, tc := range map[string]struct {
		paths          []string
		uid, container string
	}{
		"cgroup v2, systemd driver": {
			paths:     []string{"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1c3a7a53_5b2e_4c1e_9d0a_2f6b8e4d7c11.slice/cri-containerd-" + cid + ".scope"},
			uid:       "1c3a7a53-5b2e-4c1e-9d0a-2f6b8e4d7c11",
			container: cid,
		},
		"cgroup v1, cgroupfs driver": {
			paths: []string{"/", "/kubepods/burstable/pod1c3a7a53-5b2e-4c1e-9d0a-2f6b8e4d7c11/" + cid},
			uid:   "1c3a7a53-5b2e-4c1e-9d0a-2f6b8e4d7c11", container: cid,
		},
		"guaranteed pod, no QoS level": {
			paths: []string{"/kubepods.slice/kubepods-pod1c3a7a53_5b2e_4c1e_9d0a_2f6b8e4d7c11.slice/cri-containerd-" + cid + ".scope"},
			uid:   "1c3a7a53-5b2e-4c1e-9d0a-2f6b8e4d7c11", container: cid,
		},
	} {
		t.Run(name, func(t *testing.T) {
			uid, container, ok := cgroupPod(tc.paths)
			require.True(t, ok)
			assert.Equal(t, tc.uid, uid)
			assert.Equal(t, tc.container, container)
		})
	}
	_, _, ok := cgroupPod([]string{"/system.slice/cron.service", "/user.slice/user-0.slice/session-1.scope"})
	assert.False(t, ok, "host services are in no pod")
}

// decide makes one action per parent that is not ignored, on its pod (and
// the node) when known, held when the rules say not yet; the tallies count
// every zombie.
func TestDecide(t *testing.T) {
	snap := node(
		proc(1000, 102, "bash"), zombie(1001, 1000), zombie(1002, 1000), zombie(1003, 1000),
		proc(2000, 201, "worker"), zombie(2001, 2000),
		zombie(301, 300),
	)
	two := defaultRules
	two.minZombies = 2
	byPID := planned(t, snap, two, 2*time.Minute)
	var parents []parent
	for _, pid := range []int{300, 1000, 2000} {
		parents = append(parents, byPID[pid])
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-ns", Name: "web-0", UID: "u1"}}
	d := decide(parents, map[int]where{1000: {pod: pod, container: "web", lease: "akash1o/1/1/1/akash1p"}}, "node-a")
	assert.Equal(t, 5, d.zombies)
	assert.Equal(t, map[string]int{"act": 1, "hold": 1, "ignore": 1}, d.parents)
	assert.Equal(t, map[string]int{"": 2, "tenant-ns": 3}, d.byNamespace)
	require.Len(t, d.actions, 2)
	a := d.actions[0]
	assert.Equal(t, "reap-zombies", a.Verb)
	assert.Equal(t, actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "tenant-ns", Name: "web-0", UID: "u1"}, a.Target)
	assert.Equal(t, []actuator.Ref{{APIVersion: "v1", Kind: "Node", Name: "node-a"}}, a.Also)
	assert.Equal(t, "akash1o/1/1/1/akash1p", a.Lease)
	assert.Equal(t, byPID[1000], a.Payload, "the executor gets the parent itself")
	assert.Contains(t, a.Message, "process 1000 (bash) in container web of pod tenant-ns/web-0 on node node-a has 3 zombie children")
	assert.Empty(t, a.Hold)
	b := d.actions[1]
	assert.Equal(t, actuator.Ref{APIVersion: "v1", Kind: "Node", Name: "node-a"}, b.Target, "an unknown pod: the Event goes on the node")
	assert.NotEmpty(t, b.Hold, "one zombie is fewer than --min-zombies")
	require.Len(t, d.ignored, 1)
	assert.Equal(t, 300, d.ignored[0].proc.PID)
}
