package main

import (
	"fmt"
	"net/http/httptest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

// dangling shows dangling-deployments on a simulated chain: a lease closed
// on chain an hour ago whose workload still runs here, among healthy ones.
func (d *demo) dangling() error {
	ch := chaintest.New()
	srv := httptest.NewServer(ch)
	defer srv.Close()
	provider := akashtest.ProviderAddress
	// The leases seeded so far are active on chain; a fourth is closed since
	// 600 blocks (about an hour) and still here.
	for _, id := range append(d.leases, akashtest.LeaseID(4)) { // 4: restore-command's
		ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 10})
	}
	gone := akashtest.LeaseID(10)
	if err := d.builder.Create(d.ctx, akashtest.Lease{ID: gone, Hostnames: []string{"forgotten.example.com"}, Services: []akashtest.Service{
		{Name: "web", Image: "nginx:1.27", CPU: "100m", Memory: "64Mi", Port: 80}}}); err != nil {
		return err
	}
	ch.Put(chain.Lease{ID: gone, State: chain.StateClosed, CreatedAt: 10, ClosedOn: ch.Height - 600, Reason: "lease_closed_reason_insufficient_funds"})
	say("dangling-deployments, against a simulated Akash node. Lease " + gone.String() + "\n" +
		"was closed on chain an hour ago (escrow ran out) but the provider missed it: its namespace,\n" +
		"Manifest and ProviderHost are still here.")
	args := []string{"--chain-rest", srv.URL, "--provider", provider}
	if err := d.runJob("dangling-deployments", append(args, "--dry-run")...); err != nil {
		return err
	}
	if err := d.runJob("dangling-deployments", args...); err != nil {
		return err
	}
	_, err := d.cluster.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(d.ctx, gone.Namespace(), metav1.GetOptions{})
	fmt.Printf("   Manifest of the closed lease after the run: %v\n", map[bool]string{true: "gone", false: "still there"}[err != nil])
	return nil
}
