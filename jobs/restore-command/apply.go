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
	_, err = env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(a.Target.Namespace).
		Patch(ctx, a.Target.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patch Manifest %s (it changed since it was read, or is gone?): %w", a.Target.Name, err)
	}
	return nil
}

// backupManifests writes what the patches change, as the action says: one
// new Secret (<manifest>.json, the record, and <manifest>.revert, the patch
// that undoes it), or one log line per Manifest. It reads no Manifest:
// what it keeps is the plan's, and nothing a tenant wrote but the commands
// given back.
func backupManifests(ctx context.Context, env *job.Env, manifestNS string, a actuator.Action) error {
	set, err := actuator.PayloadOf[backupSet](a)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: a.Target.Name, Namespace: a.Target.Namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "akash-janitor", "app.kubernetes.io/component": "restore-command"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	for _, rec := range set.records {
		record, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		revert, err := json.Marshal(rec.Revert)
		if err != nil {
			return err
		}
		if set.mode == "log" {
			line, err := json.Marshal(rec) // one line of the log
			if err != nil {
				return err
			}
			env.Log.Info().Str("object", "Manifest/"+manifestNS+"/"+rec.Manifest).RawJSON("backup", line).
				Msg("what the patch changes in this Manifest, and the patch that undoes it (backup)")
			continue
		}
		secret.Data[rec.Manifest+".json"] = record
		secret.Data[rec.Manifest+".revert"] = revert
	}
	if set.mode == "log" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := env.Clients.Kube.CoreV1().Secrets(secret.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return nil
}
