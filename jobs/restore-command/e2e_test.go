package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
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
	// Its Manifest holds the tenant's secrets, as any may: a private
	// registry's password and a token in the environment.
	const password, token = "hunter2-registry-password", "s3cr3t-api-token"
	lost := akashtest.LeaseID(1)
	require.NoError(t, b.Create(ctx, akashtest.Lease{ID: lost, Strategy: akashtest.SurgeStrategy(), Hostnames: []string{"app.example.com"}, Services: []akashtest.Service{
		{Name: "app", Image: "tenant/app:1", Command: command, Args: []string{"exec ./serve"}, CPU: "1500m", NodeSelector: map[string]string{pool: "lost"}, Port: 8080,
			Env: []string{"API_TOKEN=" + token}, Credentials: &akash.ServiceCredentials{Host: "registry.example.com", Username: "tenant", Password: password}},
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

	// The provider, and the restart's record as the chart makes it.
	require.NoError(t, b.ProviderPod(ctx))
	_, err := c.Kube.CoreV1().ConfigMaps(akashtest.ProviderNamespace).Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "restore-restart-record", Namespace: akashtest.ProviderNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	podUID := func() types.UID {
		require.NoError(t, b.ProviderPod(ctx))
		p, err := c.Kube.CoreV1().Pods(akashtest.ProviderNamespace).Get(ctx, akashtest.ProviderPod, metav1.GetOptions{})
		require.NoError(t, err)
		return p.UID
	}

	bin := jobtest.Build(t, ".")
	var logs []string // every line every run wrote
	run := func(args ...string) jobtest.Result {
		r := jobtest.Run(t, bin, append([]string{"--kubeconfig", c.KubeconfigPath, "--restart-record-configmap", "akash-services/restore-restart-record"}, args...)...)
		logs = append(logs, r.Raw)
		return r
	}
	backups := func() []corev1.Secret {
		list, err := c.Kube.CoreV1().Secrets("akash-services").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=restore-command"})
		require.NoError(t, err)
		return list.Items
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
	assert.Empty(t, backups())
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
	assert.Empty(t, backups())
	require.Len(t, r.Actions(providerrestart.Verb), 1, "the restart the patch calls for, held too")
	assert.Equal(t, "skipped", r.Actions(providerrestart.Verb)[0]["outcome"])

	// For real: backed up, then patched, then the provider restarted (it
	// reads a Manifest only when it starts); the tenant's own change is
	// left.
	uid := podUID()
	manifests := c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace)
	before, err := manifests.Get(ctx, lost.Namespace(), metav1.GetOptions{})
	require.NoError(t, err)
	r = run("--min-stuck=0s")
	require.Equal(t, 0, r.Code, r.Raw)
	acts = r.Actions(verbRestore)
	require.Len(t, acts, 1)
	assert.Equal(t, "done", acts[0]["outcome"])
	assert.Equal(t, command, manifestCommand(t, c, lost, "app"))
	// Nothing but the command changed: the exposes, storage, credentials
	// and whatever fields a newer provider adds are kept as written.
	after, err := manifests.Get(ctx, lost.Namespace(), metav1.GetOptions{})
	require.NoError(t, err)
	services, _, _ := unstructured.NestedSlice(after.Object, "spec", "group", "services")
	delete(services[0].(map[string]any), "command")
	require.NoError(t, unstructured.SetNestedSlice(after.Object, services, "spec", "group", "services"))
	assert.Equal(t, before.Object["spec"], after.Object["spec"], "the patch changes the command alone")
	assert.Equal(t, []string{"/sidecar"}, manifestCommand(t, c, lost, "sidecar"))
	assert.Empty(t, manifestCommand(t, c, changed, "web"), "a tenant's own update is never undone")
	restarts := r.Actions(providerrestart.Verb)
	require.Len(t, restarts, 1)
	assert.Equal(t, "done", restarts[0]["outcome"])
	assert.Equal(t, "ManifestPatched", restarts[0]["reason"])
	assert.NotEqual(t, uid, podUID(), "the provider's pod deleted; its StatefulSet started it again")

	// The backup: a Secret of what the patch changes, and the patch that
	// undoes it; nothing else of the Manifest.
	saved := backups()
	require.Len(t, saved, 1)
	backed := r.Actions(verbBackup)
	require.Len(t, backed, 1)
	assert.Equal(t, "done", backed[0]["outcome"])
	assert.Equal(t, "Secret/akash-services/"+saved[0].Name, backed[0]["object"])
	var record manifestRecord
	require.NoError(t, json.Unmarshal(saved[0].Data[lost.Namespace()+".json"], &record))
	assert.Equal(t, lost.Namespace(), record.Manifest)
	assert.NotEmpty(t, record.ResourceVersion)
	assert.Equal(t, []serviceRecord{{Index: 0, Name: "app", Command: command}}, record.Services)
	cmEvents, err := c.Kube.EventsV1().Events("akash-services").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	onBackup := 0
	for _, e := range cmEvents.Items {
		if e.Reason == "BackupBeforePatch" && e.Regarding.Kind == "Secret" && e.Regarding.Name == saved[0].Name {
			onBackup++
		}
	}
	assert.Equal(t, 1, onBackup, "an Event on the backup Secret")

	events, err := c.Kube.EventsV1().Events(lost.Namespace()).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	found := false
	for _, e := range events.Items {
		if e.Reason == "CommandLost" && e.Regarding.Kind == "Deployment" && strings.Contains(e.Note, `["sh","-c"]`) {
			found = true
		}
	}
	assert.True(t, found, "an Event on the Deployment")

	// The backup undoes the patch.
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Patch(ctx, lost.Namespace(), types.JSONPatchType,
		saved[0].Data[lost.Namespace()+".revert"], metav1.PatchOptions{})
	require.NoError(t, err)
	assert.Empty(t, manifestCommand(t, c, lost, "app"), "the revert patch takes the command out again")

	// The log backup: what the patch changes, in the run's log; the
	// restart is held by the cool-down every job shares.
	uid = podUID()
	r = run("--min-stuck=0s", "--backup=log")
	require.Equal(t, 0, r.Code, r.Raw)
	line := r.Message("what the patch changes in this Manifest, and the patch that undoes it (backup)")
	require.NotNil(t, line)
	assert.Equal(t, lost.Namespace(), line["backup"].(map[string]any)["manifest"])
	assert.Equal(t, command, manifestCommand(t, c, lost, "app"))
	assert.Len(t, backups(), 1, "no Secret with --backup=log")
	restarts = r.Actions(providerrestart.Verb)
	require.Len(t, restarts, 1)
	assert.Equal(t, "skipped", restarts[0]["outcome"])
	assert.Contains(t, restarts[0]["detail"], "at most once per --restart-cooldown=1h0m0s")
	assert.Equal(t, uid, podUID())

	// Idempotent: nothing left to do.
	r = run("--min-stuck=0s")
	assert.Empty(t, r.Actions(verbRestore))
	assert.Empty(t, r.Actions(providerrestart.Verb), "nothing patched, nothing to restart")
	assert.Len(t, backups(), 1)

	// The tenant's secrets went nowhere: not into the backup, any Event or
	// any log line.
	for _, sec := range backups() {
		for k, v := range sec.Data {
			assert.NotContains(t, string(v), password, "backup %s", k)
			assert.NotContains(t, string(v), token, "backup %s", k)
		}
	}
	all, err := c.Kube.EventsV1().Events("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, e := range all.Items {
		assert.NotContains(t, e.Note, password)
		assert.NotContains(t, e.Note, token)
	}
	for _, l := range logs {
		assert.NotContains(t, l, password)
		assert.NotContains(t, l, token)
	}

	// --restart-provider=never says the patch waits for the next restart.
	_, err = c.Dynamic().Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Patch(ctx, lost.Namespace(), types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/group/services/0/command"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	r = run("--min-stuck=0s", "--restart-provider=never")
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Empty(t, r.Actions(providerrestart.Verb))
	assert.NotEmpty(t, r.With("reason", "ManifestPatched"))
	assert.Contains(t, r.Raw, "--restart-provider=never: it waits for the provider's next restart")

	r = run("--backup=configmap")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "a Manifest's services hold tenants' registry passwords")
}
