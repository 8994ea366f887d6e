package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// BenchmarkDanglingDeployments: 5,000 leases on chain (1,000 of them live
// and in the cluster, 4,000 closed long ago), 10 of the cluster's leases
// closed on chain: one dry-run pass, as a process. Targets (issue 5):
// under 5 s and 100 MiB, requests independent of lease count beyond
// pagination.
//
//	make bench
func BenchmarkDanglingDeployments(b *testing.B) {
	c := kubetest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const onChain, inCluster, dangling = 5000, 1000, 10
	start := time.Now()
	work := make(chan int)
	errs := make(chan error, inCluster)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := seedLease(ctx, c, leaseID(p, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < inCluster; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for i := 0; i < onChain; i++ {
		l := chain.Lease{ID: leaseID(p, i), State: chain.StateActive, CreatedAt: 1}
		if i >= inCluster || i < dangling {
			l.State, l.ClosedOn, l.Reason = chain.StateClosed, 10, "lease_closed_reason_insufficient_funds"
		}
		p.Chain.Put(l)
	}
	b.Logf("seeded %d leases in the cluster, %d on chain in %s", inCluster, onChain, time.Since(start).Round(time.Millisecond))

	bin := jobtest.Build(b, ".")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := p.Chain.Requests()
		t0 := time.Now()
		r := jobtest.Run(b, bin, append([]string{"--kubeconfig", c.KubeconfigPath, "--provider", p.Key.Address, "--dry-run",
			"--max-count=100", "--log-level=debug"}, p.Flags()...)...)
		wall := time.Since(t0)
		if r.Code != 0 {
			b.Fatalf("exit %d", r.Code)
		}
		planned := len(r.Actions(verbTeardown))
		if planned != dangling {
			b.Fatalf("planned %d teardowns, want %d", planned, dangling)
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
	return akash.LeaseID{Owner: fmt.Sprintf("akash1tenant%031d", i%97), DSeq: uint64(100_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
}

// seedLease makes what the janitor reads of a lease: its namespace and its
// Manifest, with the provider's labels.
func seedLease(ctx context.Context, c *kubetest.Cluster, id akash.LeaseID) error {
	labels := id.Labels()
	labels[akash.LabelAkash] = "true"
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: id.Namespace(), Labels: labels}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	ml := akash.ManifestLeaseIDOf(id)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "akash.network/v2beta2", "kind": "Manifest",
		"metadata": map[string]any{"name": id.Namespace(), "labels": toAny(labels)},
		"spec": map[string]any{"lease_id": map[string]any{"owner": ml.Owner, "dseq": ml.DSeq, "gseq": int64(ml.GSeq), "oseq": int64(ml.OSeq), "provider": ml.Provider},
			"group": map[string]any{"name": "g", "services": []any{}}},
	}}
	_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, u, metav1.CreateOptions{})
	return err
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
