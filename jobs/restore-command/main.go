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
// resourceVersion), after what the patches change is backed up to a
// Secret (or the log): an action of its own, with its audit line and
// Event. Nothing else of a Manifest leaves it: its services hold tenants'
// registry passwords and environment. The provider reads a Manifest only
// when it starts, so the run ends with its restart (cooled down, shared
// with the other jobs that restart it), or says that the patch waits for
// the next one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
)

type options struct {
	minStuck        time.Duration
	backup          string
	backupNamespace string
	restart         string
	restartFlags    providerrestart.Flags
	manifestNS      string
}

// The ways of --restart-provider.
const (
	restartNever      = "never"
	restartAfterPatch = "after-patch"
)

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
			fs.StringVar(&o.backup, "backup", "secret",
				"where what the patches change goes before they are made: secret (a new Secret in --backup-namespace) or log (one line per Manifest); never the Manifests themselves, which hold tenants' registry passwords")
			fs.StringVar(&o.backupNamespace, "backup-namespace", "akash-services",
				"namespace of the backup Secret")
			fs.StringVar(&o.restart, "restart-provider", restartAfterPatch,
				"after-patch: restart the provider once Manifests are patched (it reads them only when it starts), cooled down; never: say that the patch waits for its next restart")
			o.restartFlags.Register(fs)
			akash.RegisterManifestNamespace(fs, &o.manifestNS)
		},
		Validate: func() error {
			if o.minStuck < 0 {
				return fmt.Errorf("--min-stuck=%s: must not be negative", o.minStuck)
			}
			switch o.backup {
			case "secret", "log":
			case "configmap":
				return fmt.Errorf("--backup=configmap: a Manifest's services hold tenants' registry passwords and environment; the backup is a Secret of what the patches change (--backup=secret) or the log")
			default:
				return fmt.Errorf("--backup=%q: want secret or log", o.backup)
			}
			if o.backup == "secret" && o.backupNamespace == "" {
				return fmt.Errorf("--backup-namespace is empty: Manifests are never patched without a backup")
			}
			if o.restart != restartNever && o.restart != restartAfterPatch {
				return fmt.Errorf("--restart-provider=%q: want after-patch or never", o.restart)
			}
			return o.restartFlags.Validate()
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, *o) },
	}
}

// run is observe, plan, apply: the backup first, the patches only once it
// is made (or, in dry-run, would be), then the provider's restart.
func run(ctx context.Context, env *job.Env, o options) error {
	restarts, err := o.restartFlags.New(env.Clients.Kube, "restore-command", env.Now)
	if err != nil {
		return job.BadInput("%w", err)
	}
	st, err := observe(ctx, env, o.manifestNS)
	if err != nil {
		return fmt.Errorf("observe the cluster (nothing was changed): %w", err)
	}
	p := plan(st, env.Now(), o.minStuck, o.manifestNS)
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
	if backup, ok := planBackup(p.restores, env.Now(), o.backup, o.backupNamespace, o.manifestNS); ok {
		made := func() int { s := env.Actuator.Summary(); return s.Done + s.Planned }
		before := made()
		if err := env.Actuator.Apply(ctx, []actuator.Action{backup}, func(ctx context.Context, a actuator.Action) error {
			return backupManifests(ctx, env, o.manifestNS, a)
		}); err != nil {
			return fmt.Errorf("back up what the patches change (nothing was patched): %w", err)
		}
		// Paused, the backup is held like every action, and so are the
		// patches below: nothing to guard against.
		if made() == before && env.Actuator.Paused() == "" {
			return fmt.Errorf("the backup was not made (see its line): nothing was patched")
		}
	}
	outcomes, errPatch := env.Actuator.ApplyOutcomes(ctx, actions, func(ctx context.Context, a actuator.Action) error {
		return patchManifest(ctx, env, a)
	})
	// The Manifests patched, or that would be in a dry run or but for the
	// pause: the restart they call for is shown, planned or held, too.
	paused := env.Actuator.Paused() != ""
	patched := map[string]bool{}
	for i, out := range outcomes {
		if out == actuator.Done || out == actuator.Planned || (paused && actions[i].Hold == "") {
			patched[actions[i].Target.Name] = true
		}
	}
	var last *cooldown.Taken
	var errRecord error
	if len(patched) > 0 && o.restart != restartNever {
		if last, err = restarts.Record.Last(ctx); err != nil {
			errRecord = err
		}
	}
	a, said := planRestart(len(patched), o.restart, restarts, last, env.Now())
	if said != "" {
		env.Log.Warn().Str("reason", "ManifestPatched").Msg(said)
	}
	if a == nil {
		return errPatch
	}
	if errRecord != nil {
		a.Hold = "the restart's record cannot be used, so the provider is not restarted: " + errRecord.Error()
	}
	errRestart := env.Actuator.Apply(ctx, []actuator.Action{*a}, func(ctx context.Context, a actuator.Action) error {
		return restarts.Restart(ctx, a.Reason)
	})
	return errors.Join(errPatch, errRestart, errRecord)
}
