package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// fakeTable stands in for the kernel where the test cannot put processes
// into a pod's cgroup: the processes, their cgroups, and a parent that reaps
// its zombies on SIGCHLD. The real kernel side is tested with real
// processes in e2e_test.go.
type fakeTable struct {
	mu      sync.Mutex
	snap    proctable.Snapshot        // the table as it starts
	procs   map[int]proctable.Process // as it is now: made from snap on first use
	cgroups map[int][]string
	signals []string
}

func (f *fakeTable) Snapshot() (proctable.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var procs []proctable.Process
	for _, p := range f.current() {
		procs = append(procs, p)
	}
	return proctable.NewSnapshot(time.Now(), procs...), nil
}

// current is the table now; f.mu held.
func (f *fakeTable) current() map[int]proctable.Process {
	if f.procs == nil {
		f.procs = map[int]proctable.Process{}
		for p := range f.snap.All() {
			f.procs[p.PID] = p
		}
	}
	return f.procs
}

func (f *fakeTable) Lookup(pid int) (proctable.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.current()[pid]
	if !ok {
		return p, proctable.ErrGone
	}
	return p, nil
}

func (f *fakeTable) Cgroups(pid int) ([]string, error) { return f.cgroups[pid], nil }

func (f *fakeTable) Signal(p proctable.Process, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, fmt.Sprintf("%d:%d", p.PID, sig))
	if sig == syscall.SIGCHLD {
		procs := f.current()
		for pid, z := range procs {
			if z.Zombie() && z.PPID == p.PID {
				delete(procs, pid)
			}
		}
	}
	return nil
}

func TestAttributionToPodLeaseAndNode(t *testing.T) {
	ctx := context.Background()
	c, b := akashtest.Shared(t)
	id := akashtest.LeaseID(7)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "web", Image: "nginx", CPU: "100m", Memory: "64Mi"}}}))
	var pod corev1.Pod
	require.Eventually(t, func() bool {
		pods, err := c.Kube.CoreV1().Pods(id.Namespace()).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		if len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != nodeName {
			return false
		}
		pod = pods.Items[0]
		return true
	}, 30*time.Second, 100*time.Millisecond)

	// The tenant's bash (pid 102) in the pod's cgroup, systemd driver.
	cgroup := fmt.Sprintf("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%064x.scope",
		underscores(string(pod.UID)), 42)
	table := &fakeTable{
		snap:    node(zombie(1001, 102), zombie(1002, 102)),
		cgroups: map[int][]string{102: {cgroup}},
	}

	var logs bytes.Buffer
	log := zerolog.New(&logs).With().Str("job", "zombie-reaper").Logger()
	clients, err := kube.NewClients(c.Config)
	require.NoError(t, err)
	env := &job.Env{
		Common:  job.Common{Timeout: time.Minute, PageSize: 100, MaxActions: 5},
		Log:     log,
		Clients: clients,
		Actuator: actuator.New(actuator.Options{MaxActions: 5, Log: log, Events: &actuator.KubeEvents{
			Client: clients.Kube.EventsV1(), Controller: "akash-janitor.akash.network/zombie-reaper", Instance: "test"}}),
		Now: time.Now,
	}
	o := options{nodeName: nodeName, shimComms: "containerd-shim*", minZombies: 1, chldWait: time.Second, termWait: time.Second, killWait: time.Second, parallel: 4}
	r := newReaper(env, o, table)
	require.NoError(t, r.pass(ctx))
	t.Logf("log:\n%s", logs.String())

	assert.Equal(t, []string{fmt.Sprintf("102:%d", syscall.SIGCHLD)}, table.signals, "asked to reap; it did, so nothing more")
	run := jobtest.Parse(t, logs.String())
	audit := run.Actions("reap-zombies")
	require.Len(t, audit, 1)
	assert.Equal(t, id.String(), audit[0]["lease"])
	assert.Equal(t, id.Namespace(), audit[0]["namespace"])
	assert.Equal(t, "Pod/"+id.Namespace()+"/"+pod.Name, audit[0]["object"])
	assert.Contains(t, audit[0]["message"], "process 102 (bash) in pod "+id.Namespace()+"/"+pod.Name+" on node "+nodeName+" has 2 zombie children")

	events, err := c.Kube.EventsV1().Events(id.Namespace()).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var onPod []eventsv1.Event
	for _, e := range events.Items {
		if e.Reason == "ZombieProcesses" {
			onPod = append(onPod, e)
		}
	}
	require.Len(t, onPod, 1)
	assert.Equal(t, pod.UID, onPod[0].Regarding.UID)
	assert.Equal(t, "akash-janitor.akash.network/zombie-reaper", onPod[0].ReportingController)
	onNode, err := c.Kube.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	found := false
	for _, e := range onNode.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == nodeName && e.Related != nil && e.Related.Name == pod.Name {
			found = true
		}
	}
	assert.True(t, found, "an Event on the node, related to the pod")

	assert.Equal(t, 2.0, testutil.ToFloat64(r.metrics.zombies.WithLabelValues(id.Namespace())))
	assert.Equal(t, 2.0, testutil.ToFloat64(r.metrics.reaped))
	assert.Equal(t, 1.0, testutil.ToFloat64(r.metrics.escalation.WithLabelValues("reaped")))
}

func underscores(uid string) string {
	b := []byte(uid)
	for i := range b {
		if b[i] == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}
