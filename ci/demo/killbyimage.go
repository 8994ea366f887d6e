package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// killByImage closes, on a simulated Akash chain, the leases that run a
// denied image.
func (d *demo) killByImage() error {
	key, armor, err := chaintx.GenerateKey("demo")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "akash-janitor-demo-keys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(armor), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "key-pass.txt"), []byte("demo"), 0o600); err != nil {
		return err
	}
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	srv := httptest.NewServer(ch)
	defer srv.Close()

	say("kill-lease-by-image, against a simulated Akash node (REST, signatures and sequences checked as a\n" +
		"node does). Provider " + key.Address + " runs three more leases:")
	images := map[int][]string{7: {"packetstream/psclient:latest"}, 8: {"nginx:1.27", "docker.io/packetstream/psclient"}, 9: {"packetstream/psclient-x"}}
	var ids []akash.LeaseID
	for _, n := range []int{7, 8, 9} {
		id := akash.LeaseID{Owner: akashtest.LeaseID(n).Owner, DSeq: uint64(9_000_000 + n), GSeq: 1, OSeq: 1, Provider: key.Address}
		var services []akashtest.Service
		for i, img := range images[n] {
			services = append(services, akashtest.Service{Name: fmt.Sprintf("svc%d", i), Image: img, CPU: "10m", Memory: "16Mi"})
		}
		if err := d.builder.Create(d.ctx, akashtest.Lease{ID: id, Services: services}); err != nil {
			return err
		}
		ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 100})
		ids = append(ids, id)
		fmt.Printf("   lease %s  images %v\n", id, images[n])
	}
	args := []string{"--chain-rest", srv.URL, "--chain-id", chaintest.ChainID, "--key-file", filepath.Join(dir, "key.txt"),
		"--key-pass-file", filepath.Join(dir, "key-pass.txt"), "--deny", "packetstream/psclient"}
	say("kill-lease-by-image --deny packetstream/psclient, dry run, then for real:")
	if err := d.runJob("kill-lease-by-image", append(args, "--dry-run")...); err != nil {
		return err
	}
	if err := d.runJob("kill-lease-by-image", args...); err != nil {
		return err
	}
	say("On chain after the run:")
	for _, id := range ids {
		l, _ := ch.Get(id)
		fmt.Printf("   lease %s  %s %s\n", id, l.State, l.Reason)
	}
	for _, a := range ch.Applied() {
		fmt.Printf("   transaction %s: %d closes, fee %s, gas %d\n", a.Hash, len(a.Closed), a.Fee, a.Gas)
	}
	return nil
}
