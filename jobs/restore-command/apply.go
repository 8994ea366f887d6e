package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/job"
)

func run(ctx context.Context, env *job.Env, o options) error {
	st, err := observe(ctx, env)
	if err != nil {
		return fmt.Errorf("observe the cluster (nothing was changed): %w", err)
	}
	p := plan(st, env.Now(), o.minStuck)
	env.Log.Info().Int("manifests", len(st.manifests)).Int("workloads", len(st.rollouts)).Int("to_restore", len(p.restores)).Msg("observed")
	for _, err := range st.invalid {
		env.Log.Warn().Err(err).Msg("a Manifest that does not parse is skipped")
	}
	for _, n := range p.notes {
		ev := env.Log.Warn().Str("object", n.object).Str("reason", n.reason)
		if n.lease != "" {
			ev = ev.Str("lease", n.lease)
		}
		ev.Msg(n.message)
	}
	var actions []actuator.Action
	patches := map[string][]byte{}
	toBackUp := map[string]bool{}
	for _, r := range p.restores {
		actions = append(actions, r.action)
		patches[r.action.Target.Name+"/"+r.action.Subject] = r.patch
		if r.action.Hold == "" {
			toBackUp[r.manifest] = true
		}
	}
	if len(toBackUp) > 0 && !env.Actuator.DryRun() && o.backup == "log" {
		if err := backupToLog(ctx, env, toBackUp); err != nil {
			return fmt.Errorf("back up the Manifests (nothing was patched): %w", err)
		}
	}
	if len(toBackUp) > 0 && !env.Actuator.DryRun() && o.backup == "configmap" {
		name, err := backup(ctx, env, o.backupNamespace, toBackUp)
		if err != nil {
			return fmt.Errorf("back up the Manifests (nothing was patched): %w", err)
		}
		env.Log.Info().Str("configmap", o.backupNamespace+"/"+name).Int("manifests", len(toBackUp)).
			Msg("Manifests backed up before patching; restore one with: kubectl -n " + o.backupNamespace + " get configmap " + name +
				" -o jsonpath='{.data.<manifest>\\.json}' | kubectl replace -f -")
	}
	return env.Actuator.Apply(ctx, actions, func(ctx context.Context, a actuator.Action) error {
		_, err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).
			Patch(ctx, a.Target.Name, types.JSONPatchType, patches[a.Target.Name+"/"+a.Subject], metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("patch Manifest %s (it changed since it was read, or is gone?): %w", a.Target.Name, err)
		}
		return nil
	})
}

// backupToLog writes each Manifest, whole, as one log line (field
// manifest), for operators who keep their logs.
func backupToLog(ctx context.Context, env *job.Env, manifests map[string]bool) error {
	for name := range manifests {
		u, err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read Manifest %s: %w", name, err)
		}
		b, err := json.Marshal(u.Object)
		if err != nil {
			return err
		}
		env.Log.Info().Str("object", "Manifest/"+akash.LeaseNamespace+"/"+name).RawJSON("manifest", b).Msg("Manifest before the patch (backup)")
	}
	return nil
}

// backup writes the Manifests, whole as the API returns them, to one new
// ConfigMap: <manifest>.json each.
func backup(ctx context.Context, env *job.Env, namespace string, manifests map[string]bool) (string, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "restore-command-backup-" + env.Now().UTC().Format("20060102-150405"),
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/part-of": "akash-janitor", "app.kubernetes.io/component": "restore-command"},
		},
		Data: map[string]string{},
	}
	for name := range manifests {
		u, err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("read Manifest %s: %w", name, err)
		}
		b, err := json.MarshalIndent(u.Object, "", "  ")
		if err != nil {
			return "", err
		}
		cm.Data[name+".json"] = string(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create ConfigMap %s/%s: %w", namespace, cm.Name, err)
	}
	return cm.Name, nil
}
