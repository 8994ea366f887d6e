package main

import (
	"fmt"
	"net/http/httptest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus/providerstatustest"
)

// dangling shows dangling-deployments on a simulated chain (support#515):
// a GPU lease's escrow runs dry, the chain ends the lease for insufficient
// funds at the provider's own withdrawal, and the provider never tears it
// down: its workload runs for free and its capacity is never bid again.
// The janitor tears it down and restarts the provider, once.
func (d *demo) dangling() error {
	ch := chaintest.New()
	srv := httptest.NewServer(ch)
	defer srv.Close()
	provider := akashtest.ProviderAddress
	// The leases seeded so far are active on chain and paid up.
	for _, id := range append(d.leases, akashtest.LeaseID(4)) { // 4: restore-command's
		ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: ch.Height - 5000})
	}
	miner := akashtest.LeaseID(10)
	if err := d.builder.Create(d.ctx, akashtest.Lease{ID: miner, Hostnames: []string{"trainer.example.com"}, Services: []akashtest.Service{
		{Name: "trainer", Image: "pytorch/pytorch:2.5", CPU: "2", Memory: "4Gi", Port: 8888}}}); err != nil {
		return err
	}
	l := chain.Lease{ID: miner, State: chain.StateActive, CreatedAt: ch.Height}
	l.Price.Denom, l.Price.Amount = "uact", "250.000000000000000000"
	ch.Put(l)
	ch.Fund(miner.Owner, miner.DSeq, 250*1200) // 1,200 blocks' worth, about two hours
	ch.Advance(1300)
	if err := ch.WithdrawLease(miner); err != nil { // the provider's balance checker
		return err
	}
	ended, _ := ch.Get(miner)
	ch.Advance(300) // half an hour on

	// The provider's /status, as its memory has it: every lease it
	// deployed, until it restarts.
	memory := d.builder.ProviderMemory(provider)
	status := providerstatustest.Start(cleanups{}, provider, memory.Counts)
	defer status.Close()
	record := "akash-janitor-provider-restart"
	if _, err := d.cluster.Kube.CoreV1().ConfigMaps(akashtest.ProviderNamespace).Create(d.ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: record, Namespace: akashtest.ProviderNamespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	before, err := memory.Counts()
	if err != nil {
		return err
	}
	pod, err := d.cluster.Kube.CoreV1().Pods(akashtest.ProviderNamespace).Get(d.ctx, akashtest.ProviderPod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	say(fmt.Sprintf("dangling-deployments, against a simulated Akash node. Lease %s\n"+
		"paid 250 uact a block from a deposit that ran dry; at height %d the provider's own withdrawal\n"+
		"settled it and the chain ended the lease: state %s, reason %s. The provider\n"+
		"never heard of it (support#515): the trainer still runs here for free, and the provider's status\n"+
		"still counts %d leases, so that capacity is never bid again.", miner, ended.ClosedOn, ended.State, ended.Reason, before.Leases))
	args := []string{"--chain-rest", srv.URL, "--provider", provider, "--provider-status-url", status.StatusURL(),
		"--restart-record-configmap", akashtest.ProviderNamespace + "/" + record}
	if err := d.runJob("dangling-deployments", append(args, "--dry-run")...); err != nil {
		return err
	}
	if err := d.runJob("dangling-deployments", args...); err != nil {
		return err
	}
	_, err = d.cluster.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(d.ctx, miner.Namespace(), metav1.GetOptions{})
	fmt.Printf("   Manifest of the ended lease after the run: %v\n", map[bool]string{true: "gone", false: "still there"}[err != nil])
	if err := d.builder.ProviderPod(d.ctx); err != nil {
		return err
	}
	again, err := d.cluster.Kube.CoreV1().Pods(akashtest.ProviderNamespace).Get(d.ctx, akashtest.ProviderPod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	after, err := memory.Counts()
	if err != nil {
		return err
	}
	fmt.Printf("   provider pod: %s before, %s now (its StatefulSet started it again)\n", pod.UID[:8], again.UID[:8])
	fmt.Printf("   provider status: %d leases before, %d after the restart: the trainer's capacity is bid again\n", before.Leases, after.Leases)
	second := akashtest.LeaseID(11)
	if err := d.builder.Create(d.ctx, akashtest.Lease{ID: second, Services: []akashtest.Service{
		{Name: "web", Image: "nginx:1.27", CPU: "100m", Memory: "64Mi", Port: 80}}}); err != nil {
		return err
	}
	ch.Put(chain.Lease{ID: second, State: chain.StateActive, CreatedAt: ch.Height})
	ch.Fund(second.Owner, second.DSeq, 600)
	ch.Advance(700)
	if err := ch.WithdrawLease(second); err != nil {
		return err
	}
	ch.Advance(200)
	say("Another lease runs dry within the hour: torn down at once, but the provider is restarted at most\n" +
		"once per danglingDeployments.restartProvider.cooldown (1h); the alert AkashJanitorProviderHoldsEndedLeases\n" +
		"fires if the capacity stays held for 90 minutes:")
	return d.runJob("dangling-deployments", args...)
}

// cleanups lets a test helper that wants a testing.T's Cleanup run in the
// demo, where the scene closes what it started itself.
type cleanups struct{}

func (cleanups) Cleanup(func()) {}
