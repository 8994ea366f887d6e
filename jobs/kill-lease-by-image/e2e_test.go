package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "big", CPU: "64", Memory: "256Gi", Pods: 300}))
}

type provider struct{ *chaintest.Provider }

func newProvider(t *testing.T) provider { return provider{chaintest.NewProvider(t)} }

// lease creates a provider-shaped lease in the cluster and active on chain.
func (p provider) lease(t *testing.T, b *akashtest.Builder, n int, images ...string) akash.LeaseID {
	t.Helper()
	id := akash.LeaseID{Owner: akashtest.LeaseID(n).Owner, DSeq: uint64(5000 + n), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	var services []akashtest.Service
	for i, img := range images {
		services = append(services, akashtest.Service{Name: string(rune('a'+i)) + "svc", Image: img, CPU: "10m", Memory: "16Mi"})
	}
	require.NoError(t, b.Create(context.Background(), akashtest.Lease{ID: id, Services: services}))
	p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 10})
	return id
}

// run runs the job as the CronJob does, beside a running provider pod
// (the job acts only while it is Ready).
func (p provider) run(t *testing.T, c *kubetest.Cluster, args ...string) jobtest.Result {
	t.Helper()
	require.NoError(t, akashtest.NewBuilder(c).ProviderPod(context.Background()))
	return jobtest.Run(t, jobtest.Build(t, "."), append(append([]string{"--kubeconfig", c.KubeconfigPath}, p.Flags()...), args...)...)
}

func (p provider) state(id akash.LeaseID) string {
	l, _ := p.Chain.Get(id)
	return l.State
}

func TestKillLeaseByImage(t *testing.T) {
	c, b := akashtest.Shared(t)
	p := newProvider(t)
	bare := p.lease(t, b, 1, "packetstream/psclient")
	twoServices := p.lease(t, b, 2, "nginx:1.27", "docker.io/packetstream/psclient:latest")
	nearMiss := p.lease(t, b, 3, "packetstream/psclient-x")
	otherRegistry := p.lease(t, b, 4, "evil.io/packetstream/psclient")
	allowed := p.lease(t, b, 5, "ghcr.io/miner/xmrig:6.21")
	closedAlready := p.lease(t, b, 6, "packetstream/psclient@sha256:4b9e1f7a6f1c0a6f0a6b3f4e2f6c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c")
	p.Chain.Close(closedAlready, "lease_closed_owner")
	lists := []string{"--deny", "packetstream/psclient", "--deny", "regex:.*xmrig.*", "--allow", "ghcr.io/miner/xmrig"}

	r := p.run(t, c, append(lists, "--dry-run")...)
	require.Equal(t, 0, r.Code)
	acts := r.Actions(verbClose)
	require.Len(t, acts, 3)
	byLease := map[string]map[string]any{}
	for _, a := range acts {
		byLease[a["lease"].(string)] = a
	}
	assert.Equal(t, "planned", byLease[bare.String()]["outcome"])
	assert.Equal(t, "planned", byLease[twoServices.String()]["outcome"])
	assert.Contains(t, byLease[twoServices.String()]["message"], `service bsvc runs docker.io/packetstream/psclient:latest (denied by "packetstream/psclient")`)
	assert.Equal(t, "skipped", byLease[closedAlready.String()]["outcome"])
	for _, id := range []akash.LeaseID{bare, twoServices, nearMiss, otherRegistry, allowed} {
		assert.Equal(t, chain.StateActive, p.state(id), "dry-run closes nothing")
	}

	// Paused: the same plan, every close held, no transaction.
	r = p.run(t, c, append(lists, "--paused")...)
	require.Equal(t, 0, r.Code, "a paused run succeeds")
	acts = r.Actions(verbClose)
	require.Len(t, acts, 3)
	for _, a := range acts {
		assert.Equal(t, "skipped", a["outcome"])
		assert.Equal(t, "paused: --paused is set (the chart's global.pause)", a["detail"])
	}
	assert.Empty(t, p.Chain.Applied(), "a paused run sends no transaction")
	assert.Equal(t, chain.StateActive, p.state(bare))

	// The provider pod not Ready: every close held, no transaction.
	require.NoError(t, b.ProviderPod(context.Background()))
	require.NoError(t, b.SetReady(context.Background(), akashtest.ProviderNamespace, akashtest.ProviderPod, false))
	r = p.run(t, c, lists...)
	require.NoError(t, b.SetReady(context.Background(), akashtest.ProviderNamespace, akashtest.ProviderPod, true))
	require.Equal(t, 0, r.Code, "a blocked run succeeds")
	acts = r.Actions(verbClose)
	require.Len(t, acts, 3)
	for _, a := range acts {
		assert.Equal(t, "skipped", a["outcome"])
		assert.Contains(t, a["detail"], "blocked: pod akash-services/akash-provider-0 is not Ready (ContainersNotReady: ")
	}
	assert.Empty(t, p.Chain.Applied(), "a blocked run sends no transaction")

	r = p.run(t, c, lists...)
	require.Equal(t, 0, r.Code)
	assert.Equal(t, chain.StateClosed, p.state(bare))
	assert.Equal(t, chain.StateClosed, p.state(twoServices))
	for _, id := range []akash.LeaseID{nearMiss, otherRegistry, allowed} {
		assert.Equal(t, chain.StateActive, p.state(id), "%s must stay", id)
	}
	l, _ := p.Chain.Get(bare)
	assert.Equal(t, "lease_closed_reason_unspecified", l.Reason)
	applied := p.Chain.Applied()
	require.Len(t, applied, 1, "both closes in one transaction")
	for _, a := range r.Actions(verbClose) {
		if a["outcome"] == "done" {
			assert.Equal(t, applied[0].Hash, a["tx_hash"])
			assert.Equal(t, "tx", a["backend"])
		}
	}
	assert.NotContains(t, r.Raw, "provider-passphrase", "the passphrase is never logged")
}

// runtimeReports sets what the runtime reports running in the lease's
// pod, as a kubelet does once the container started: the image ID with the
// digest it resolved.
func runtimeReports(t *testing.T, c *kubetest.Cluster, id akash.LeaseID, imageID string) {
	t.Helper()
	ctx := context.Background()
	pods := c.Kube.CoreV1().Pods(id.Namespace())
	var pod *corev1.Pod
	require.Eventually(t, func() bool {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 || len(l.Items[0].Status.ContainerStatuses) == 0 {
			return false
		}
		pod = &l.Items[0]
		return true
	}, time.Minute, 100*time.Millisecond, "the lease's pod runs")
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].ImageID = imageID
	}
	_, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// One image, every name it is pulled by: Docker Hub's aliases, mirrors,
// and what the runtime resolved whatever the tenant called the image.
func TestKillLeaseByImageEveryName(t *testing.T) {
	c, b := akashtest.Shared(t)
	p := newProvider(t)
	registry1 := p.lease(t, b, 41, "registry-1.docker.io/packetstream/psclient")
	hub := p.lease(t, b, 42, "registry.hub.docker.com/packetstream/psclient:latest")
	mirror := p.lease(t, b, 43, "mirror.gcr.io/traffmonetizer/cli:1.2")
	renamed := p.lease(t, b, 44, "ghcr.io/innocent/app:1.0")
	runtimeReports(t, c, renamed, "ghcr.io/innocent/app@"+imagematchtest.DigestDenied)
	fine := p.lease(t, b, 45, "nginx:1.27")
	runtimeReports(t, c, fine, "docker.io/library/nginx@"+imagematchtest.DigestOther)

	r := p.run(t, c, "--deny", "packetstream/psclient", "--deny", "*/traffmonetizer/cli", "--deny", imagematchtest.DigestDenied, "--log-level=debug")
	require.Equal(t, 0, r.Code, r.Raw)
	for _, id := range []akash.LeaseID{registry1, hub, mirror, renamed} {
		assert.Equal(t, chain.StateClosed, p.state(id), "%s", id)
	}
	assert.Equal(t, chain.StateActive, p.state(fine))
	byLease := map[string]map[string]any{}
	for _, a := range r.Actions(verbClose) {
		byLease[a["lease"].(string)] = a
	}
	assert.Contains(t, byLease[registry1.String()]["message"], `service asvc runs registry-1.docker.io/packetstream/psclient (docker.io/packetstream/psclient:latest; denied by "packetstream/psclient")`)
	assert.Contains(t, byLease[mirror.String()]["message"], `(denied by "*/traffmonetizer/cli")`)
	assert.Contains(t, byLease[renamed.String()]["message"], "service asvc runs ghcr.io/innocent/app@"+imagematchtest.DigestDenied+
		" (container asvc of pod ")
	assert.Contains(t, byLease[renamed.String()]["message"], `the runtime's image ID; denied by "`+imagematchtest.DigestDenied+`")`)
	requests := r.RequestBreakdown()
	assert.Contains(t, requests, "LIST manifests=1", "the Manifests in one LIST")
	assert.Contains(t, requests, "LIST pods=1", "the tenant pods in one LIST, whatever the lease count")
}

func TestKillLeaseByImageSafety(t *testing.T) {
	c, b := akashtest.Shared(t)
	p := newProvider(t)
	first := p.lease(t, b, 11, "packetstream/psclient")
	second := p.lease(t, b, 12, "packetstream/psclient")

	// No denylist: nothing to do, and it says so.
	r := p.run(t, c)
	assert.Equal(t, 0, r.Code)
	assert.Contains(t, r.Raw, "this job waits for its input")

	// A bad entry: bad configuration, named.
	r = p.run(t, c, "--deny", "regex:(")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, `entry \"regex:(\": bad regular expression`)

	// A key that is not the provider's.
	r = p.run(t, c, "--deny", "packetstream/psclient", "--provider", "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "refusing to act for another provider")

	// The chain does not answer: nothing closed, exit 1.
	p.Chain.Garble(true)
	r = p.run(t, c, "--deny", "packetstream/psclient")
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Raw, "nothing was closed")
	p.Chain.Garble(false)
	assert.Equal(t, chain.StateActive, p.state(first))

	// The budget: one lease a run.
	r = p.run(t, c, "--deny", "packetstream/psclient", "--max-actions=1")
	require.Equal(t, 0, r.Code)
	closed := 0
	for _, id := range []akash.LeaseID{first, second} {
		if p.state(id) == chain.StateClosed {
			closed++
		}
	}
	assert.Equal(t, 1, closed)
}

// The two other ways to close: the official CLI in the job's container,
// and the CLI in the provider pod through pods/exec.
func TestKillLeaseByImageThroughTheCLI(t *testing.T) {
	ctx := context.Background()
	c, b := akashtest.Shared(t)
	cli := chaintest.BuildCLI(t)

	t.Run("cli", func(t *testing.T) {
		p := newProvider(t)
		bad := p.lease(t, b, 21, "packetstream/psclient")
		good := p.lease(t, b, 22, "nginx:1.27")
		r := p.run(t, c, "--deny", "packetstream/psclient", "--closer", "cli", "--cli", cli, "--chain-rpc", p.URL, "--cli-home", t.TempDir())
		require.Equal(t, 0, r.Code, r.Raw)
		assert.Equal(t, chain.StateClosed, p.state(bad))
		assert.Equal(t, chain.StateActive, p.state(good))
		acts := r.Actions(verbClose)
		require.Len(t, acts, 1)
		assert.Equal(t, "cli", acts[0]["backend"])
		assert.Equal(t, p.Chain.Applied()[0].Hash, acts[0]["tx_hash"])
		assert.NotContains(t, r.Raw, "provider-passphrase", "the passphrase is never logged")
	})

	t.Run("exec", func(t *testing.T) {
		p := newProvider(t)
		require.NoError(t, b.ProviderPod(ctx))
		require.NoError(t, c.AllowExec(ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", p.PodEnv(t, cli)))
		bad := p.lease(t, b, 31, "docker.io/packetstream/psclient:latest")
		good := p.lease(t, b, 32, "nginx:1.27")
		// No key here: only the provider's address.
		args := []string{"--kubeconfig", c.KubeconfigPath, "--chain-rest", p.URL, "--provider", p.Key.Address,
			"--deny", "packetstream/psclient", "--closer", "exec", "--cli", cli}
		r := jobtest.Run(t, jobtest.Build(t, "."), args...)
		require.Equal(t, 0, r.Code, r.Raw)
		assert.Equal(t, chain.StateClosed, p.state(bad))
		assert.Equal(t, chain.StateActive, p.state(good))
		acts := r.Actions(verbClose)
		require.Len(t, acts, 1)
		assert.Equal(t, "exec", acts[0]["backend"])
		assert.Equal(t, p.Chain.Applied()[0].Hash, acts[0]["tx_hash"])
		assert.Equal(t, p.Key.Address, p.Chain.Applied()[0].Signer, "signed in the provider pod")
	})
}

// With --closer=cli the chart runs the job in the provider's image, where
// the CLI and its C library are: an init container copies the job there.
func TestInstallToCopiesTheJob(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := jobtest.Output(t, exec.Command(jobtest.Build(t, "."), "--install-to", dir))
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	copied := filepath.Join(dir, "kill-lease-by-image")
	assert.Contains(t, stderr, "installed "+copied)
	stdout, _, code = jobtest.Output(t, exec.Command(copied, "--version"))
	require.Equal(t, 0, code)
	assert.Regexp(t, `^kill-lease-by-image dev \(commit \S+, go1\.`, stdout)

	_, stderr, code = jobtest.Output(t, exec.Command(jobtest.Build(t, "."), "--install-to", filepath.Join(dir, "absent")))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--install-to")
}

// On a node with lease reclamation (2.1, AEP-82): a denied lease with a
// window not started gets it started, is held with its deadline while it
// runs, and is closed by the first run after the deadline.
func TestKillLeaseByImageStartsReclamation(t *testing.T) {
	c, b := akashtest.Shared(t)
	p := newProvider(t)
	p.Chain.WithReclamation()
	id := p.lease(t, b, 40, "packetstream/psclient")
	l, _ := p.Chain.Get(id)
	l.Reclamation = &chain.Reclamation{Window: time.Hour}
	p.Chain.Put(l)
	deny := []string{"--deny", "packetstream/psclient"}

	r := p.run(t, c, deny...)
	require.Equal(t, 0, r.Code, r.Raw)
	starts := r.Actions("start-reclaim")
	require.Len(t, starts, 1)
	assert.Equal(t, "done", starts[0]["outcome"])
	assert.Empty(t, r.Actions(verbClose), "the chain refuses a close before the window")
	l, _ = p.Chain.Get(id)
	require.Equal(t, chain.StateReclaiming, l.State)
	deadline := l.Reclamation.Deadline.UTC().Format(time.RFC3339)

	r = p.run(t, c, deny...)
	require.Equal(t, 0, r.Code, r.Raw)
	closes := r.Actions(verbClose)
	require.Len(t, closes, 1)
	assert.Equal(t, "skipped", closes[0]["outcome"])
	assert.Equal(t, "in its reclamation window; it cannot be closed before its deadline, "+deadline, closes[0]["detail"])

	l.Reclamation.Deadline = time.Now().Add(-time.Second)
	p.Chain.Put(l)
	r = p.run(t, c, deny...)
	require.Equal(t, 0, r.Code, r.Raw)
	closes = r.Actions(verbClose)
	require.Len(t, closes, 1)
	assert.Equal(t, "done", closes[0]["outcome"])
	assert.Equal(t, chain.StateClosed, p.state(id))
	require.Len(t, p.Chain.Applied(), 2, "one start, one close")
}

// The daily close budget holds across runs: past it, closes are skipped
// with the reason; a record gone closes nothing and fails the run.
func TestKillLeaseByImageDailyCloseBudget(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	p := newProvider(t)
	var ids []akash.LeaseID
	for n := 40; n < 43; n++ {
		ids = append(ids, p.lease(t, b, n, "honeygain/honeygain:1.0"))
	}
	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-close-budget", Namespace: "default"}}
	_, err := c.Kube.CoreV1().ConfigMaps("default").Create(ctx, record, metav1.CreateOptions{})
	require.NoError(t, err)
	args := []string{"--deny", "honeygain/honeygain", "--max-closes-per-day=2", "--close-budget-configmap=default/akash-janitor-close-budget", "--batch-size=1"}
	closed := func() (n int) {
		for _, id := range ids {
			if p.state(id) == chain.StateClosed {
				n++
			}
		}
		return n
	}

	r := p.run(t, c, args...)
	require.Equal(t, 0, r.Code)
	outcomes := map[string]int{}
	for _, a := range r.Actions(verbClose) {
		outcomes[a["outcome"].(string)]++
		if a["outcome"] == "skipped" {
			assert.Equal(t, "the daily close budget is used up: 2 of 2 closes in the last 24 hours (--max-closes-per-day, record ConfigMap default/akash-janitor-close-budget)", a["detail"])
		}
	}
	assert.Equal(t, map[string]int{"done": 2, "skipped": 1}, outcomes)
	assert.Equal(t, 2, closed())

	var open akash.LeaseID // the one the budget held
	cm, err := c.Kube.CoreV1().ConfigMaps("default").Get(ctx, record.Name, metav1.GetOptions{})
	require.NoError(t, err)
	for _, id := range ids {
		if p.state(id) == chain.StateClosed {
			assert.Contains(t, cm.Data["closes"], `"lease":"`+id.String()+`","job":"kill-lease-by-image"`, "the record names each close")
		} else {
			open = id
		}
	}
	actionOn := func(r jobtest.Result) map[string]any {
		for _, a := range r.Actions(verbClose) {
			if a["lease"] == open.String() {
				return a
			}
		}
		t.Fatalf("no action on %s", open)
		return nil
	}

	// The next run, the same day: the budget is spent.
	r = p.run(t, c, args...)
	require.Equal(t, 0, r.Code)
	a := actionOn(r)
	assert.Equal(t, "skipped", a["outcome"])
	assert.Contains(t, a["detail"], "the daily close budget is used up")
	assert.Equal(t, 2, closed(), "nothing more closed within 24 hours")

	// The record gone: no close, a clear error, a failed run.
	require.NoError(t, c.Kube.CoreV1().ConfigMaps("default").Delete(ctx, record.Name, metav1.DeleteOptions{}))
	r = p.run(t, c, append(args, "--max-closes-per-day=100")...)
	assert.Equal(t, 1, r.Code, "a budget that cannot be read fails the run")
	a = actionOn(r)
	assert.Equal(t, "failed", a["outcome"])
	assert.Contains(t, a["error"], "close budget record default/akash-janitor-close-budget is missing, so no lease is closed")
	assert.Equal(t, 2, closed())
}
