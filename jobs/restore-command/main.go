// restore-command gives Akash services back the command their Manifest
// lost. Providers before 0.2.1 dropped `command` from Manifests when they
// restarted; the workload they then deployed from the Manifest has no
// command and crash-loops, while the original replica keeps running and
// holding its resources (the runbook's "Heal Broken Deployment Replicas").
//
// A Manifest service is restored when all of this holds: it has no
// command; its Deployment's newest ReplicaSet (or StatefulSet's update
// revision) has no command either and has not become available for
// --min-stuck; and the service's older replicas still run, Ready, with one
// command. That command is added back to the Manifest service (a JSON
// patch that first tests the service's name and the Manifest's
// resourceVersion), after the Manifests are backed up to a ConfigMap (or the
// log): an action of its own, with its audit line and Event.
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/job"
)

type options struct {
	minStuck        time.Duration
	backup          string
	backupNamespace string
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "restore-command",
		Summary:           "give Akash services back the command their Manifest lost (providers before 0.2.1)",
		DefaultMaxActions: 20,
		Pausable:          true,
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&o.minStuck, "min-stuck", 15*time.Minute,
				"how long the command-less rollout must have failed to become available, so a tenant's own update is never undone")
			fs.StringVar(&o.backup, "backup", "configmap",
				"where the Manifests go before they are patched: configmap (a new ConfigMap in --backup-namespace) or log (one line each, in full)")
			fs.StringVar(&o.backupNamespace, "backup-namespace", "akash-services",
				"namespace of the ConfigMap the Manifests are backed up to before they are patched")
		},
		Validate: func() error {
			if o.minStuck < 0 {
				return fmt.Errorf("--min-stuck=%s: must not be negative", o.minStuck)
			}
			if o.backup != "configmap" && o.backup != "log" {
				return fmt.Errorf("--backup=%q: want configmap or log", o.backup)
			}
			if o.backup == "configmap" && o.backupNamespace == "" {
				return fmt.Errorf("--backup-namespace is empty: Manifests are never patched without a backup")
			}
			return nil
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, *o) },
	}
}

// run is observe, plan, apply: the backup first, and the patches only once
// it is made (or, in dry-run, would be).
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
	for _, r := range p.restores {
		actions = append(actions, r.action)
	}
	if backup, ok := planBackup(p.restores, env.Now(), o.backup, o.backupNamespace); ok {
		made := func() int { s := env.Actuator.Summary(); return s.Done + s.Planned }
		before := made()
		if err := env.Actuator.Apply(ctx, []actuator.Action{backup}, func(ctx context.Context, a actuator.Action) error {
			return backupManifests(ctx, env, a)
		}); err != nil {
			return fmt.Errorf("back up the Manifests (nothing was patched): %w", err)
		}
		// Paused, the backup is held like every action, and so are the
		// patches below: nothing to guard against.
		if made() == before && env.Actuator.Paused() == "" {
			return fmt.Errorf("the Manifests were not backed up (see the backup's line): nothing was patched")
		}
	}
	return env.Actuator.Apply(ctx, actions, func(ctx context.Context, a actuator.Action) error {
		return patchManifest(ctx, env, a)
	})
}
