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

// patchManifest applies the planned JSON patch; its first operations test
// the Manifest's resourceVersion and the service's name, so a Manifest
// changed since it was read is not patched.
func patchManifest(ctx context.Context, env *job.Env, a actuator.Action) error {
	patch, err := actuator.PayloadOf[[]byte](a)
	if err != nil {
		return err
	}
	_, err = env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).
		Patch(ctx, a.Target.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patch Manifest %s (it changed since it was read, or is gone?): %w", a.Target.Name, err)
	}
	return nil
}

// backupManifests reads each Manifest, whole as the API returns it, and
// writes it where the action says: one new ConfigMap (<manifest>.json
// each), or one log line each (field manifest).
func backupManifests(ctx context.Context, env *job.Env, a actuator.Action) error {
	set, err := actuator.PayloadOf[backupSet](a)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: a.Target.Name, Namespace: a.Target.Namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "akash-janitor", "app.kubernetes.io/component": "restore-command"}},
		Data: map[string]string{},
	}
	for _, name := range set.manifests {
		u, err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read Manifest %s: %w", name, err)
		}
		if set.mode == "log" {
			b, err := json.Marshal(u.Object)
			if err != nil {
				return err
			}
			env.Log.Info().Str("object", "Manifest/"+akash.LeaseNamespace+"/"+name).RawJSON("manifest", b).Msg("Manifest before the patch (backup)")
			continue
		}
		b, err := json.MarshalIndent(u.Object, "", "  ")
		if err != nil {
			return err
		}
		cm.Data[name+".json"] = string(b)
	}
	if set.mode == "log" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := env.Clients.Kube.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return nil
}
