package main

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "n", CPU: "4", Memory: "8Gi"}))
}

func TestCloseLease(t *testing.T) {
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438017, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive})
	run := func(args ...string) jobtest.Result {
		base := append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", id.Owner, "--dseq", strconv.FormatUint(id.DSeq, 10)}, p.Flags()...)
		return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
	}

	r := run("--dry-run", "--reason", "10001")
	require.Equal(t, 0, r.Code)
	assert.Equal(t, "planned", r.Actions("close-lease")[0]["outcome"])
	l, _ := p.Chain.Get(id)
	assert.Equal(t, chain.StateActive, l.State)

	r = run("--reason", "10001")
	require.Equal(t, 0, r.Code)
	a := r.Actions("close-lease")[0]
	assert.Equal(t, "done", a["outcome"])
	assert.NotEmpty(t, a["tx_hash"])
	assert.Contains(t, a["message"], "reason lease_closed_reason_decommission", "--reason 10001 logged by name, as the other jobs log it")
	assert.Equal(t, id.String(), a["lease"])
	l, _ = p.Chain.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.Equal(t, "lease_closed_reason_decommission", l.Reason)

	r = run()
	assert.Equal(t, "skipped", r.Actions("close-lease")[0]["outcome"], "already closed: said, not retried")

	r = jobtest.Run(t, jobtest.Build(t, "."), append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", id.Owner, "--dseq", "99"}, p.Flags()...)...)
	assert.Equal(t, 1, r.Code, "a lease the chain does not know")
	assert.Contains(t, r.Raw, "not found on chain")
}

// On a node with reclamation (2.1, AEP-82): a lease whose window has not
// started is refused with the way out; --start-reclaim starts it; the
// close is held with the deadline until it passes, then closes. A lease
// with another bid sequence is addressed with --bseq.
func TestCloseLeaseWithReclamation(t *testing.T) {
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	p.Chain.WithReclamation()
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438018, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	p.Chain.Put(chain.Lease{ID: id, BSeq: 2, State: chain.StateActive, Reclamation: &chain.Reclamation{Window: time.Hour}})
	run := func(args ...string) jobtest.Result {
		base := append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", id.Owner, "--dseq", strconv.FormatUint(id.DSeq, 10)}, p.Flags()...)
		return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
	}

	r := run()
	assert.Equal(t, 1, r.Code, "bid sequence 0: the chain knows no such lease")
	assert.Contains(t, r.Raw, "not found on chain")

	r = run("--bseq", "2")
	require.Equal(t, 0, r.Code, r.Raw)
	a := r.Actions("close-lease")[0]
	assert.Equal(t, "skipped", a["outcome"])
	assert.Contains(t, a["detail"], "has not started: the chain refuses the close; start it with --start-reclaim")
	assert.Empty(t, p.Chain.Applied())

	r = run("--bseq", "2", "--start-reclaim")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, "done", r.Actions("start-reclaim")[0]["outcome"])
	l, _ := p.Chain.Get(id)
	require.Equal(t, chain.StateReclaiming, l.State)

	r = run("--bseq", "2")
	require.Equal(t, 0, r.Code, r.Raw)
	a = r.Actions("close-lease")[0]
	assert.Equal(t, "skipped", a["outcome"])
	assert.Equal(t, "in its reclamation window until "+l.Reclamation.Deadline.UTC().Format(time.RFC3339), a["detail"])

	l.Reclamation.Deadline = time.Now().Add(-time.Second)
	p.Chain.Put(l)
	r = run("--bseq", "2")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, "done", r.Actions("close-lease")[0]["outcome"])
	l, _ = p.Chain.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
}

// Against a node that serves another chain than --chain-id, nothing is
// signed: the mismatch is named before anything else (a node refuses such
// a transaction only at broadcast, after signing: recorded against node
// 2.1.0-rc12, shared/akash-node 20_broadcast_wrong_chain_id).
func TestCloseLeaseRefusesAnotherChain(t *testing.T) {
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	p.Chain.ChainID = "local"
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438019, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive})
	r := jobtest.Run(t, jobtest.Build(t, "."), append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", id.Owner, "--dseq", "8438019"}, p.Flags()...)...)
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "--chain-id=akashnet-2, but the node at "+p.URL+" serves chain local")
	assert.Contains(t, r.Raw, "nothing was signed")
	assert.Empty(t, p.Chain.Applied(), "nothing broadcast")
	assert.Empty(t, r.Actions("close-lease"))

	r = jobtest.Run(t, jobtest.Build(t, "."), append(append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", id.Owner, "--dseq", "8438019"}, p.Flags()...), "--chain-id", "local")...)
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, "done", r.Actions("close-lease")[0]["outcome"])
}

// An operator closing one lease from a laptop with the key has no cluster
// to name: the close goes through, and the run says that no Event is
// recorded; a daily close budget, which lives in the cluster, says why it
// cannot run.
func TestCloseLeaseWithoutACluster(t *testing.T) {
	p := chaintest.NewProvider(t)
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 8438020, GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive})
	laptop := func(args ...string) jobtest.Result {
		cmd := exec.Command(jobtest.Build(t, "."), append(append([]string{"--owner", id.Owner, "--dseq", "8438020"}, p.Flags()...), args...)...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")} // no KUBECONFIG, no ~/.kube/config, not in a pod
		return jobtest.RunCmd(t, cmd)
	}
	r := laptop("--max-closes-per-day=5")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "--max-closes-per-day=5 keeps its record in a ConfigMap, and no cluster is given (--kubeconfig); nothing was done")
	l, _ := p.Chain.Get(id)
	assert.Equal(t, chain.StateActive, l.State)

	r = laptop()
	require.Equal(t, 0, r.Code, r.Raw)
	assert.NotNil(t, r.Message("no cluster given (no --kubeconfig, KUBECONFIG or ~/.kube/config, not in a pod): "+
		"the close is logged here only, with no Kubernetes Event on the lease's namespace; a daily close budget (--max-closes-per-day) and --closer=exec need the cluster"))
	assert.Equal(t, "done", r.Actions("close-lease")[0]["outcome"])
	l, _ = p.Chain.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
	assert.NotContains(t, r.Raw, "could not record the Kubernetes Event")
}

// With --min-completion-rate, a close that would bring the provider's
// lease completion rate below it is held with the reason; a lower minimum
// lets it through.
func TestCloseLeaseHeldByTheCompletionRate(t *testing.T) {
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	owner := "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"
	for dseq := uint64(100); dseq < 112; dseq++ {
		p.Chain.Put(chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: p.Key.Address}, State: chain.StateActive})
	}
	p.Chain.Put(chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: 99, GSeq: 1, OSeq: 1, Provider: p.Key.Address},
		State: chain.StateClosed, Reason: "lease_closed_reason_unstable", ClosedOn: p.Chain.Height - 100})
	run := func(args ...string) jobtest.Result {
		base := append([]string{"--kubeconfig", c.KubeconfigPath, "--owner", owner, "--dseq", "100"}, p.Flags()...)
		return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
	}
	// 13 leases, one closed by the provider: 92.3%; one more, 84.6%.
	r := run("--min-completion-rate=0.9")
	require.Equal(t, 0, r.Code, r.Raw)
	a := r.Actions("close-lease")[0]
	assert.Equal(t, "skipped", a["outcome"])
	assert.Contains(t, a["detail"], "the lease completion rate would fall below --min-completion-rate=0.9: 1 of the 13 leases of the last 720h0m0s were closed by the provider")
	l, _ := p.Chain.Get(akash.LeaseID{Owner: owner, DSeq: 100, GSeq: 1, OSeq: 1, Provider: p.Key.Address})
	assert.Equal(t, chain.StateActive, l.State)

	r = run("--min-completion-rate=0.8")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Equal(t, "done", r.Actions("close-lease")[0]["outcome"])

	r = run("--min-completion-rate=98")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "--min-completion-rate=98: want 0 (off) or a fraction below 1")
}
