package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
)

// BenchmarkKillLeaseByImage: 1,000 Manifests of three services each, 50
// with a denied image; one run closing them, as a process, with each
// closer: tx (batches of 10; and again while the provider's account sends
// a transaction every block), cli (the CLI stand-in in the job's process
// tree, one transaction a lease) and exec (the stand-in run through
// pods/exec, as in the provider pod). Wall time, requests to each side,
// transactions, the job's peak RSS.
//
//	make bench
func BenchmarkKillLeaseByImage(b *testing.B) {
	c, builder := akashtest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const manifests, denied = 1000, 50
	start := time.Now()
	leaseID := func(i int) akash.LeaseID {
		return akash.LeaseID{Owner: akashtest.Owner(i % 89), DSeq: uint64(200_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	}
	err := builder.CreateAll(ctx, 0, manifests, func(i int) akashtest.Lease {
		id := leaseID(i)
		images := []string{"nginx:1.27", "redis:7", fmt.Sprintf("ghcr.io/tenant%d/api:1.%d", i, i%9)}
		if i%(manifests/denied) == 0 {
			images[2] = "packetstream/psclient:latest"
		}
		var services []akashtest.Service
		for j, img := range images {
			services = append(services, akashtest.Service{Name: fmt.Sprintf("svc%d", j), Image: img})
		}
		p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 1})
		return akashtest.Lease{ID: id, Services: services, NoWorkloads: true}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d Manifests (%d denied) in %s", manifests, denied, time.Since(start).Round(time.Millisecond))
	bin := jobtest.Build(b, ".")
	cli := chaintest.BuildCLI(b)
	if err := builder.ProviderPod(ctx); err != nil {
		b.Fatal(err)
	}
	if err := c.AllowExec(ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", p.PodEnv(b, cli)); err != nil {
		b.Fatal(err)
	}
	for _, closer := range []struct {
		name string
		args []string
		// busy: the provider's daemon sends a transaction every block, so
		// its account's committed sequence is always one behind.
		busy bool
	}{
		{"tx", nil, false},
		{"tx-provider-busy", nil, true},
		{"cli", []string{"--closer", "cli", "--cli", cli, "--chain-rpc", p.URL, "--cli-home", b.TempDir()}, false},
		{"exec", []string{"--closer", "exec", "--cli", cli}, false},
	} {
		b.Run(closer.name, func(b *testing.B) {
			p.Chain.Busy(p.Key.Address, closer.busy)
			defer p.Chain.Busy(p.Key.Address, false)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for i := 0; i < manifests; i += manifests / denied { // the denied leases, active again
					p.Chain.Put(chain.Lease{ID: leaseID(i), State: chain.StateActive, CreatedAt: 1})
				}
				before, txs := p.Chain.Requests(), len(p.Chain.Applied())
				args := append([]string{"--kubeconfig", c.KubeconfigPath, "--deny", "packetstream/psclient", "--max-actions=100",
					"--log-level=debug", "--provider", p.Key.Address}, p.Flags()...)
				b.StartTimer()
				t0 := time.Now()
				r := jobtest.Run(b, bin, append(args, closer.args...)...)
				wall := time.Since(t0)
				if r.Code != 0 || len(r.Actions(verbClose)) != denied {
					b.Fatalf("exit %d, %d closes, want %d", r.Code, len(r.Actions(verbClose)), denied)
				}
				s := r.Summary()
				b.ReportMetric(wall.Seconds(), "wall-s/run")
				b.ReportMetric(s["api_requests"].(float64), "kube-requests/run")
				b.ReportMetric(float64(p.Chain.Requests()-before), "chain-requests/run")
				b.ReportMetric(float64(len(p.Chain.Applied())-txs), "transactions/run")
				b.ReportMetric(s["peak_rss_mib"].(float64), "peak-RSS-MiB")
			}
		})
	}
}
