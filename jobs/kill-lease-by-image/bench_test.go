package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// BenchmarkKillLeaseByImage: 1,000 Manifests of three services each, 50
// with a denied image; one run closing them in batches of 10, as a
// process: wall time, requests to each side, transactions, peak RSS.
//
//	make bench
func BenchmarkKillLeaseByImage(b *testing.B) {
	c := kubetest.Shared(b)
	p := chaintest.NewProvider(b)
	ctx := context.Background()
	const manifests, denied = 1000, 50
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, manifests)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id := akash.LeaseID{Owner: fmt.Sprintf("akash1tenant%031d", i%89), DSeq: uint64(200_000 + i), GSeq: 1, OSeq: 1, Provider: p.Key.Address}
				images := []any{"nginx:1.27", "redis:7", fmt.Sprintf("ghcr.io/tenant%d/api:1.%d", i, i%9)}
				if i%(manifests/denied) == 0 {
					images[2] = "packetstream/psclient:latest"
				}
				if err := seedManifest(ctx, c, id, images); err != nil {
					errs <- err
				}
				p.Chain.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 1})
			}
		}()
	}
	for i := 0; i < manifests; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
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

func seedManifest(ctx context.Context, c *kubetest.Cluster, id akash.LeaseID, images []any) error {
	labels := map[string]any{}
	for k, v := range id.Labels() {
		labels[k] = v
	}
	var services []any
	for i, img := range images {
		services = append(services, map[string]any{"name": fmt.Sprintf("svc%d", i), "image": img, "count": int64(1),
			"resources": map[string]any{"id": int64(1), "cpu": map[string]any{"units": int64(100)}}})
	}
	ml := akash.ManifestLeaseIDOf(id)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "akash.network/v2beta2", "kind": "Manifest",
		"metadata": map[string]any{"name": id.Namespace(), "labels": labels},
		"spec": map[string]any{"lease_id": map[string]any{"owner": ml.Owner, "dseq": ml.DSeq, "gseq": int64(ml.GSeq), "oseq": int64(ml.OSeq), "provider": ml.Provider},
			"group": map[string]any{"name": "g", "services": services}},
	}}
	_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Create(ctx, u, metav1.CreateOptions{})
	return err
}
