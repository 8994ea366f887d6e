package main

import (
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
