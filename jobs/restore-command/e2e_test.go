package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const pool = "janitor.test/pool"

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(
		kubetest.Node{Name: "lost", CPU: "2", Memory: "8Gi", Labels: map[string]string{pool: "lost"}},
		kubetest.Node{Name: "big", CPU: "16", Memory: "64Gi", Labels: map[string]string{pool: "big"}},
	))
}

func manifestCommand(t *testing.T, c *kubetest.Cluster, id akash.LeaseID, service string) []string {
	t.Helper()
	u, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(context.Background(), id.Namespace(), metav1.GetOptions{})
	require.NoError(t, err)
	m, err := akash.ManifestFromUnstructured(u)
	require.NoError(t, err)
	for _, s := range m.Spec.Group.Services {
		if s.Name == service {
			return s.Command
		}
	}
	t.Fatalf("no service %s", service)
	return nil
}

// loseCommand does what a provider before 0.2.1 did on restart: the
// Manifest service loses its command, and the Deployment is updated from it.
func loseCommand(t *testing.T, c *kubetest.Cluster, id akash.LeaseID, index int, service string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Patch(ctx, id.Namespace(), types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/group/services/`+string(rune('0'+index))+`/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	_, err = c.Kube.AppsV1().Deployments(id.Namespace()).Patch(ctx, service, types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/template/spec/containers/0/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
}

func rolledOut(t *testing.T, c *kubetest.Cluster, id akash.LeaseID, service string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := c.Kube.AppsV1().Deployments(id.Namespace()).Get(context.Background(), service, metav1.GetOptions{})
		return err == nil && akashtest.RolledOut(d)
	}, time.Minute, 200*time.Millisecond)
}

func TestRestoreCommand(t *testing.T) {
	c, b := akashtest.Shared(t)
	ctx := context.Background()
	command := []string{"sh", "-c"}

	// Lease 1: two services; "app" (1.5 CPU on a 2-CPU node, an older
	// provider's surge-first Deployment) loses its command; "sidecar" keeps.
	lost := akashtest.LeaseID(1)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: lost, Strategy: akashtest.SurgeStrategy(), Services: []akashtest.Service{
		{Name: "app", Image: "tenant/app:1", Command: command, Args: []string{"exec ./serve"}, CPU: "1500m", NodeSelector: map[string]string{pool: "lost"}},
		{Name: "sidecar", Image: "tenant/sidecar:1", Command: []string{"/sidecar"}, CPU: "100m", NodeSelector: map[string]string{pool: "big"}},
	}}))
	// Lease 2: the tenant removed its command itself; the update rolled out.
	changed := akashtest.LeaseID(2)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: changed, Services: []akashtest.Service{
		{Name: "web", Image: "tenant/web:1", Command: []string{"/bin/web"}, CPU: "100m", NodeSelector: map[string]string{pool: "big"}},
	}}))
	rolledOut(t, c, lost, "app")
	rolledOut(t, c, changed, "web")
	loseCommand(t, c, lost, 0, "app")
	loseCommand(t, c, changed, 0, "web")
	rolledOut(t, c, changed, "web")
	require.Eventually(t, func() bool {
		msgs, err := akashtest.Unschedulable(ctx, c.Kube, lost.Namespace())
		return err == nil && len(msgs) > 0
	}, time.Minute, 200*time.Millisecond, "the command-less revision of lease 1 is stuck")

	bin := jobtest.Build(t, ".")
	run := func(args ...string) jobtest.Result {
		return jobtest.Run(t, bin, append([]string{"--kubeconfig", c.KubeconfigPath}, args...)...)
	}
	backups := func() int {
		cms, err := c.Kube.CoreV1().ConfigMaps("akash-services").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=restore-command"})
		require.NoError(t, err)
		return len(cms.Items)
	}

	// Too young: held.
	r := run()
	require.Equal(t, 0, r.Code)
	acts := r.Actions(verbRestore)
	require.Len(t, acts, 1)
	assert.Equal(t, "skipped", acts[0]["outcome"])
	assert.Contains(t, acts[0]["detail"], "less than --min-stuck=15m0s")
	assert.Empty(t, manifestCommand(t, c, lost, "app"))

	// Dry-run: the patch is shown, nothing changes, no backup.
	r = run("--min-stuck=0s", "--dry-run")
	acts = r.Actions(verbRestore)
	require.Len(t, acts, 1)
	assert.Equal(t, "planned", acts[0]["outcome"])
	assert.Contains(t, acts[0]["message"], `"op":"add","path":"/spec/group/services/0/command","value":["sh","-c"]`)
	assert.Equal(t, lost.String(), acts[0]["lease"])
	assert.Empty(t, manifestCommand(t, c, lost, "app"))
	assert.Equal(t, 0, backups())
	require.Len(t, r.Actions(verbBackup), 1)
	assert.Equal(t, "planned", r.Actions(verbBackup)[0]["outcome"], "the backup is an action too")

	// Paused: the backup and the patch are both held; the run succeeds.
	r = run("--min-stuck=0s", "--paused")
	require.Equal(t, 0, r.Code, "a paused run succeeds:\n%s", r.Raw)
	require.Len(t, r.Actions(verbBackup), 1)
	acts = r.Actions(verbRestore)
	require.Len(t, acts, 1)
	for _, a := range append(acts, r.Actions(verbBackup)...) {
		assert.Equal(t, "skipped", a["outcome"])
		assert.Equal(t, "paused: --paused is set (the chart's global.pause)", a["detail"])
	}
	assert.Empty(t, manifestCommand(t, c, lost, "app"))
	assert.Equal(t, 0, backups())

	// For real: backed up, then patched; the tenant's own change is left.
	r = run("--min-stuck=0s")
	require.Equal(t, 0, r.Code)
	acts = r.Actions(verbRestore)
	require.Len(t, acts, 1)
	assert.Equal(t, "done", acts[0]["outcome"])
	assert.Equal(t, command, manifestCommand(t, c, lost, "app"))
	assert.Equal(t, []string{"/sidecar"}, manifestCommand(t, c, lost, "sidecar"))
	assert.Empty(t, manifestCommand(t, c, changed, "web"), "a tenant's own update is never undone")
	require.Equal(t, 1, backups())
	cms, err := c.Kube.CoreV1().ConfigMaps("akash-services").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=restore-command"})
	require.NoError(t, err)
	backed := r.Actions(verbBackup)
	require.Len(t, backed, 1)
	assert.Equal(t, "done", backed[0]["outcome"])
	assert.Equal(t, "ConfigMap/akash-services/"+cms.Items[0].Name, backed[0]["object"])
	cmEvents, err := c.Kube.EventsV1().Events("akash-services").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	onBackup := 0
	for _, e := range cmEvents.Items {
		if e.Reason == "BackupBeforePatch" && e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == cms.Items[0].Name {
			onBackup++
		}
	}
	assert.Equal(t, 1, onBackup, "an Event on the backup ConfigMap")
	var saved map[string]any
	require.NoError(t, json.Unmarshal([]byte(cms.Items[0].Data[lost.Namespace()+".json"]), &saved))
	assert.Equal(t, lost.Namespace(), saved["metadata"].(map[string]any)["name"], "the Manifest as it was, whole")
	assert.NotContains(t, cms.Items[0].Data[lost.Namespace()+".json"], `"sh"`, "backed up before the patch")

	events, err := c.Kube.EventsV1().Events(lost.Namespace()).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	found := false
	for _, e := range events.Items {
		if e.Reason == "CommandLost" && e.Regarding.Kind == "Deployment" && strings.Contains(e.Note, `["sh","-c"]`) {
			found = true
		}
	}
	assert.True(t, found, "an Event on the Deployment")

	// The log backup: the Manifest, whole, in the run's log. (The
	// Manifest loses its command again; the stuck revision is still there.)
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Patch(ctx, lost.Namespace(), types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/group/services/0/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	r = run("--min-stuck=0s", "--backup=log")
	require.Equal(t, 0, r.Code)
	saved2 := r.Message("Manifest before the patch (backup)")
	require.NotNil(t, saved2)
	assert.Equal(t, lost.Namespace(), saved2["manifest"].(map[string]any)["metadata"].(map[string]any)["name"])
	assert.Equal(t, command, manifestCommand(t, c, lost, "app"))
	assert.Equal(t, 1, backups(), "no ConfigMap with --backup=log")

	// Idempotent: nothing left to do.
	r = run("--min-stuck=0s")
	assert.Empty(t, r.Actions(verbRestore))
	assert.Equal(t, 1, backups())
}
