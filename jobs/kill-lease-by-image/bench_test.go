package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
)

// BenchmarkKillLeaseByImage: 1,000 and then 10,000 Manifests of three
// services each, 50 with a denied image; one run closing them, as a
// process, with each closer: tx (batches of 10; and again while the
// provider's account sends a transaction every block), cli (the CLI
// stand-in in the job's process tree, one transaction a lease) and exec
// (the stand-in run through pods/exec, as in the provider pod); at 10,000
// the tx and exec closers (cli costs what exec does per close). Wall time,
// requests to each side, transactions, the job's peak RSS. Targets (issue
// 18): peak RSS under 100 MiB and flat in the Manifest count, under 5 s at
// 10,000 with the tx closer.
//
//	make bench
//	BENCH_MANIFESTS=1000 make bench   # other counts, ascending
func BenchmarkKillLeaseByImage(b *testing.B) {
	c, builder := akashtest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const denied = 50
	counts := []int{1000, 10000}
	if v := os.Getenv("BENCH_MANIFESTS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < denied || n%denied != 0 || (len(counts) > 0 && n <= counts[len(counts)-1]) {
				b.Fatalf("BENCH_MANIFESTS=%q: want ascending multiples of %d", v, denied)
			}
			counts = append(counts, n)
		}
	}
	leaseID := func(i int) akash.LeaseID {
		return akash.LeaseID{Owner: akashtest.Owner(i % 89), DSeq: uint64(200_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
	}
	// The denied are among the first phase's Manifests, the same at every
	// count; Manifests are listed by name, the lease namespace's hash, so
	// they are spread over the whole listing anyway.
	isDenied := func(i int) bool { return i < counts[0] && i%(counts[0]/denied) == 0 }
	seeded := 0
	seed := func(manifests int) {
		start := time.Now()
		err := builder.CreateAll(ctx, seeded, manifests, func(i int) akashtest.Lease {
			id := leaseID(i)
			tenant := fmt.Sprintf("ghcr.io/tenant%d/api:1.%d", i, i%9)
			if isDenied(i) {
				tenant = "packetstream/psclient:latest"
			}
			var services []akashtest.Service
			for j, img := range []string{"nginx:1.27", "redis:7", tenant} {
				services = append(services, akashtest.Service{Name: fmt.Sprintf("svc%d", j), Image: img})
			}
			p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 1})
			return akashtest.Lease{ID: id, Services: services, NoWorkloads: true}
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d Manifests (%d denied) in %s", manifests, denied, time.Since(start).Round(time.Millisecond))
		seeded = manifests
	}
	bin := jobtest.Build(b, ".")
	cli := chaintest.BuildCLI(b)
	if err := builder.ProviderPod(ctx); err != nil {
		b.Fatal(err)
	}
	if err := c.AllowExec(ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", p.PodEnv(b, cli)); err != nil {
		b.Fatal(err)
	}
	for n, manifests := range counts {
		seed(manifests)
		for _, closer := range []struct {
			name string
			args []string
			// busy: the provider's daemon sends a transaction every block, so
			// its account's committed sequence is always one behind.
			busy bool
			// all: run at every count, not only the first.
			all bool
		}{
			{"tx", nil, false, true},
			{"tx-provider-busy", nil, true, true},
			{"cli", []string{"--closer", "cli", "--cli", cli, "--chain-rpc", p.URL, "--cli-home", b.TempDir()}, false, false},
			{"exec", []string{"--closer", "exec", "--cli", cli}, false, true},
		} {
			if n > 0 && !closer.all {
				continue
			}
			b.Run(fmt.Sprintf("manifests=%d/%s", manifests, closer.name), func(b *testing.B) {
				p.Chain.Busy(p.Key.Address, closer.busy)
				defer p.Chain.Busy(p.Key.Address, false)
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for i := 0; i < manifests; i++ { // the denied leases, active again
						if isDenied(i) {
							p.Chain.Put(chain.Lease{ID: leaseID(i), State: chain.StateActive, CreatedAt: 1})
						}
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
}
