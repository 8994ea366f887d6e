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
// with a denied image; one run closing them in batches of 10, as a
// process: wall time, requests to each side, transactions, peak RSS.
//
//	make bench
func BenchmarkKillLeaseByImage(b *testing.B) {
	c, builder := akashtest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const manifests, denied = 1000, 50
	start := time.Now()
	err := builder.CreateAll(ctx, 0, manifests, func(i int) akashtest.Lease {
		id := akash.LeaseID{Owner: akashtest.Owner(i % 89), DSeq: uint64(200_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before, txs := p.Chain.Requests(), len(p.Chain.Applied())
		t0 := time.Now()
		r := jobtest.Run(b, bin, append([]string{"--kubeconfig", c.KubeconfigPath, "--deny", "packetstream/psclient", "--max-actions=100", "--log-level=debug"}, p.Flags()...)...)
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
}
