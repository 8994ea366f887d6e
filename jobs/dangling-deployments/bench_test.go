package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus/providerstatustest"
)

// BenchmarkDanglingDeployments: 50,000 leases on chain (10,000 of them
// live and in the cluster, 40,000 closed long ago), 10 of the cluster's
// leases ended on chain for insufficient funds: one dry-run pass, as a
// process, the provider's status read from a stand-in. Targets (issue
// 18): under 10 s and 100 MiB, requests independent of lease count beyond
// pagination.
//
//	make bench
//	BENCH_CHAIN_LEASES=5000 BENCH_CLUSTER_LEASES=1000 make bench   # other sizes
func BenchmarkDanglingDeployments(b *testing.B) {
	c, builder := akashtest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const dangling = 10
	onChain, inCluster := jobtest.EnvCount(b, "BENCH_CHAIN_LEASES", 50_000), jobtest.EnvCount(b, "BENCH_CLUSTER_LEASES", 10_000)
	if inCluster > onChain || inCluster < dangling {
		b.Fatalf("BENCH_CLUSTER_LEASES=%d: want between %d and BENCH_CHAIN_LEASES=%d", inCluster, dangling, onChain)
	}
	if err := builder.ProviderPod(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	// Namespaces and Manifests only: what the job reads.
	if err := builder.CreateAll(ctx, 0, inCluster, func(i int) akashtest.Lease {
		return akashtest.Lease{ID: leaseID(p, i), NoWorkloads: true}
	}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < onChain; i++ {
		l := chain.Lease{ID: leaseID(p, i), State: chain.StateActive, CreatedAt: 1}
		switch {
		case i < dangling:
			l.State, l.ClosedOn, l.Reason = chain.StateInsufficientFunds, 10, chain.ReasonInsufficientFunds
		case i >= inCluster:
			l.State, l.ClosedOn, l.Reason = chain.StateClosed, 10, "lease_closed_owner"
		}
		p.Chain.Put(l)
	}
	b.Logf("seeded %d leases in the cluster, %d on chain in %s", inCluster, onChain, time.Since(start).Round(time.Millisecond))

	// The provider holds every lease of the cluster, as before a teardown.
	status := providerstatustest.Start(b, p.Key.Address, func() (providerstatustest.Counts, error) {
		return providerstatustest.Counts{Leases: inCluster, Active: inCluster}, nil
	})
	record := "bench-restart-record"
	if _, err := c.Kube.CoreV1().ConfigMaps(akashtest.ProviderNamespace).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: record, Namespace: akashtest.ProviderNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	bin := jobtest.Build(b, ".")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := p.Chain.Requests()
		t0 := time.Now()
		r := jobtest.Run(b, bin, append([]string{"--kubeconfig", c.KubeconfigPath, "--provider", p.Key.Address, "--dry-run",
			"--max-count=100", "--log-level=debug", "--provider-status-url", status.StatusURL(),
			"--restart-record-configmap", akashtest.ProviderNamespace + "/" + record}, p.Flags()...)...)
		wall := time.Since(t0)
		if r.Code != 0 {
			b.Fatalf("exit %d", r.Code)
		}
		planned := len(r.Actions(verbTeardown))
		if planned != dangling {
			b.Fatalf("planned %d teardowns, want %d", planned, dangling)
		}
		if restarts := r.Actions(verbRestart); len(restarts) != 1 || restarts[0]["outcome"] != "planned" {
			b.Fatalf("restart of the provider: %v, want one planned", restarts)
		}
		s := r.Summary()
		chainRequests := p.Chain.Requests() - before
		b.ReportMetric(wall.Seconds(), "wall-s/run")
		b.ReportMetric(s["api_requests"].(float64), "kube-requests/run")
		b.ReportMetric(float64(chainRequests), "chain-requests/run")
		b.ReportMetric(s["peak_rss_mib"].(float64), "peak-RSS-MiB")
		b.Logf("%d on chain, %d in the cluster: wall %s, %v Kubernetes requests (%s), %d chain requests (%d confirmations by ID), peak RSS %.1f MiB",
			onChain, inCluster, wall.Round(time.Millisecond), s["api_requests"], r.RequestBreakdown(), chainRequests, dangling, s["peak_rss_mib"])
	}
}

func leaseID(p *chaintest.Provider, i int) akash.LeaseID {
	return akash.LeaseID{Owner: akashtest.Owner(i % 97), DSeq: uint64(100_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
}
