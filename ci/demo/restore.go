package main

import (
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
)

// restoreCommand replays the pre-0.2.1 provider bug: a restart strips the
// command from a Manifest, the workload redeployed from it cannot start,
// the old replica keeps running; restore-command gives the command back.
func (d *demo) restoreCommand() error {
	id := akashtest.LeaseID(4)
	say("restore-command. Lease 4 runs `sh -c ./serve` on its own 2-CPU node. A provider before 0.2.1\n" +
		"restarts: the Manifest loses `command`, the Deployment is redeployed without it, the new pod\n" +
		"cannot start (here: no room next to the old one) while the old one runs on.")
	if err := d.builder.Create(d.ctx, akashtest.Lease{ID: id, Strategy: akashtest.SurgeStrategy(), Services: []akashtest.Service{
		{Name: "api", Image: "tenant/api:2", Command: []string{"sh", "-c"}, Args: []string{"./serve"}, CPU: "1500m", NodeSelector: map[string]string{"demo/pool": "small-2"}},
	}}); err != nil {
		return err
	}
	if err := d.waitFor(time.Minute, "lease 4 running", func() (bool, error) {
		dep, err := d.cluster.Kube.AppsV1().Deployments(id.Namespace()).Get(d.ctx, "api", metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(dep), nil
	}); err != nil {
		return err
	}
	if _, err := d.cluster.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Patch(d.ctx, id.Namespace(), types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/group/services/0/command"}]`), metav1.PatchOptions{}); err != nil {
		return err
	}
	if _, err := d.cluster.Kube.AppsV1().Deployments(id.Namespace()).Patch(d.ctx, "api", types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/template/spec/containers/0/command"}]`), metav1.PatchOptions{}); err != nil {
		return err
	}
	if err := d.waitFor(time.Minute, "the command-less pod to be stuck", func() (bool, error) {
		msg, err := d.unschedulable(id.Namespace())
		return msg != "", err
	}); err != nil {
		return err
	}
	show := func() error {
		u, err := d.cluster.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(d.ctx, id.Namespace(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		m, err := akash.ManifestFromUnstructured(u)
		if err != nil {
			return err
		}
		cmd, _ := json.Marshal(m.Spec.Group.Services[0].Command)
		fmt.Printf("   Manifest %s, service api: command %s\n", id.Namespace(), cmd)
		return nil
	}
	if err := show(); err != nil {
		return err
	}
	// --min-stuck=0s: the rollout got stuck seconds ago (default 15m).
	// --restart-provider=never: the dangling-deployments scene below
	// restarts the provider, which restarts at most once an hour.
	say("restore-command, dry run (shows the patch), then for real (first backs up what it changes, to a\n" +
		"Secret: never the Manifest, which holds the tenant's registry password and environment):")
	if err := d.runJob("restore-command", "--dry-run", "--min-stuck=0s", "--restart-provider=never"); err != nil {
		return err
	}
	if err := d.runJob("restore-command", "--min-stuck=0s", "--restart-provider=never"); err != nil {
		return err
	}
	fmt.Println("   The provider reads a Manifest only when it starts: by default the run ends by restarting it\n" +
		"   (restoreCommand.restartProvider); here it waits for the restart the dangling-deployments scene makes.")
	return show()
}
