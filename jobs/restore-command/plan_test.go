package main

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
)

func manifest(id akash.LeaseID, services ...akash.ManifestService) *akash.Manifest {
	return &akash.Manifest{
		ObjectMeta: metav1.ObjectMeta{Name: id.Namespace(), ResourceVersion: "42"},
		Spec:       akash.ManifestSpec{LeaseID: akash.ManifestLeaseIDOf(id), Group: akash.ManifestGroup{Name: "g", Services: services}},
	}
}

func TestPlan(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	id := akashtest.LeaseID(3)
	ns := id.Namespace()
	st := state{
		manifests: []*akash.Manifest{manifest(id, akash.ManifestService{Name: "db"}, akash.ManifestService{Name: "app"}, akash.ManifestService{Name: "worker"})},
		rollouts: map[serviceKey]rollout{
			{ns, "app"}:    {kind: "Deployment", name: "app", stuckSince: now.Add(-time.Hour), olderRevisions: map[string]bool{"app-1": true}},
			{ns, "worker"}: {kind: "Deployment", name: "worker", stuckSince: now.Add(-time.Hour), olderRevisions: map[string]bool{"worker-1": true}},
			{ns, "db"}:     {kind: "StatefulSet", name: "db", stuckSince: now.Add(-time.Hour), olderRevisions: map[string]bool{"db-abc": true}},
		},
		pods: map[serviceKey][]runningPod{
			{ns, "app"}:    {{name: "app-1-x", revision: "app-1", command: []string{"bash", "-c"}}, {name: "app-2-y", revision: "app-2"}},
			{ns, "worker"}: {{name: "w1", revision: "worker-1", command: []string{"sh"}}, {name: "w2", revision: "worker-1", command: []string{"bash"}}},
			{ns, "db"}:     {{name: "db-0", revision: "db-abc", command: []string{"postgres"}}},
		},
	}
	p := plan(st, now, 15*time.Minute, "lease")
	require.Len(t, p.restores, 2)
	assert.Equal(t, `[{"op":"test","path":"/metadata/resourceVersion","value":"42"},{"op":"test","path":"/spec/group/services/0/name","value":"db"},{"op":"add","path":"/spec/group/services/0/command","value":["postgres"]}]`,
		string(p.restores[0].action.Payload.([]byte)), "the executor gets the patch itself")
	assert.Equal(t, "StatefulSet", p.restores[0].action.Regarding.Kind)
	assert.Contains(t, string(p.restores[1].action.Payload.([]byte)), `"path":"/spec/group/services/1/command","value":["bash","-c"]`)
	assert.Empty(t, p.restores[1].action.Hold)
	require.Len(t, p.notes, 1)
	assert.Equal(t, "CommandAmbiguous", p.notes[0].reason)
	assert.Contains(t, p.notes[0].message, `["bash"], ["sh"]`)

	// One backup, before the patches, of what every patch not held would
	// change: per Manifest its resourceVersion, the services given a
	// command, the patch that undoes it; none when every patch is held.
	b, ok := planBackup(p.restores, now, "secret", "akash-services", "lease")
	require.True(t, ok)
	assert.Equal(t, verbBackup, b.Verb)
	assert.Equal(t, "Secret", b.Target.Kind)
	assert.Equal(t, "akash-services", b.Target.Namespace)
	assert.Regexp(t, "^restore-command-backup-"+now.UTC().Format("20060102-150405")+"-[0-9a-f]{8}$", b.Target.Name)
	assert.Equal(t, backupSet{mode: "secret", records: []manifestRecord{{Manifest: ns, ResourceVersion: "42",
		Services: []serviceRecord{{Index: 0, Name: "db", Command: []string{"postgres"}}, {Index: 1, Name: "app", Command: []string{"bash", "-c"}}},
		Revert: []patchOp{
			{Op: "test", Path: "/spec/group/services/0/name", Value: "db"}, {Op: "remove", Path: "/spec/group/services/0/command"},
			{Op: "test", Path: "/spec/group/services/1/name", Value: "app"}, {Op: "remove", Path: "/spec/group/services/1/command"},
		}}}}, b.Payload)
	assert.Contains(t, b.Message, "backing up what the patches change in 1 Manifests to Secret akash-services/restore-command-backup-")
	// A backup of other patches in the same second is another Secret.
	other := slices.Clone(p.restores)
	other[0].resourceVersion = "43"
	b2, ok := planBackup(other, now, "secret", "akash-services", "lease")
	require.True(t, ok)
	assert.NotEqual(t, b.Target.Name, b2.Target.Name, "two runs in one second do not collide")
	b, ok = planBackup(p.restores, now, "log", "akash-services", "lease")
	require.True(t, ok)
	assert.Equal(t, "Namespace", b.Target.Kind)
	held := slices.Clone(p.restores)
	for i := range held {
		held[i].action.Hold = "too young"
	}
	_, ok = planBackup(held, now, "secret", "akash-services", "lease")
	assert.False(t, ok, "nothing to patch, nothing to back up")

	// The provider reads a Manifest only when it starts: the restart
	// follows the patches, cooled down, or is said to wait.
	flags := providerrestart.Flags{Pod: "akash-services/akash-provider-0", Cooldown: time.Hour, Record: providerrestart.DefaultRecord}
	r, err := flags.New(nil, "restore-command", func() time.Time { return now })
	require.NoError(t, err)
	a, said := planRestart(0, restartAfterPatch, r, nil, now)
	assert.Nil(t, a, "nothing patched: no restart")
	assert.Empty(t, said)
	a, said = planRestart(1, restartAfterPatch, r, nil, now)
	require.NotNil(t, a)
	assert.Empty(t, said)
	assert.Equal(t, providerrestart.Verb, a.Verb)
	assert.Equal(t, "ManifestPatched", a.Reason)
	assert.Equal(t, "akash-provider-0", a.Target.Name)
	assert.Empty(t, a.Hold)
	assert.Contains(t, a.Message, "the 1 patched Manifests take effect once it restarts")
	a, _ = planRestart(1, restartAfterPatch, r, &cooldown.Taken{At: now.Add(-10 * time.Minute), Job: "dangling-deployments"}, now)
	assert.Contains(t, a.Hold, "last done 10m0s ago", "the cool-down every job shares")
	a, said = planRestart(2, restartNever, r, nil, now)
	assert.Nil(t, a)
	assert.Contains(t, said, "--restart-provider=never: it waits for the provider's next restart (or: kubectl -n akash-services delete pod akash-provider-0)")

	// A rollout that completed, or old replicas without a command: nothing.
	st.rollouts[serviceKey{ns, "app"}] = rollout{kind: "Deployment", name: "app", olderRevisions: map[string]bool{}}
	st.pods[serviceKey{ns, "db"}] = []runningPod{{name: "db-0", revision: "db-abc"}}
	assert.Empty(t, plan(st, now, 15*time.Minute, "lease").restores)
}
