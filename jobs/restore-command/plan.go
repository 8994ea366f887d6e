package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
)

const verbRestore = "restore-command"

// patchOp is one JSON patch operation (RFC 6902).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

const verbBackup = "backup-manifests"

// restore is one Manifest service to give its command back: the action,
// whose payload is the JSON patch, and what the backup keeps of it.
type restore struct {
	action          actuator.Action
	manifest        string
	resourceVersion string
	record          serviceRecord
}

// serviceRecord is what a patch changes in one Manifest service, and all
// the backup keeps: never the Manifest, whose services hold tenants'
// registry passwords and environment (provider
// pkg/apis/akash.network/v2beta2/manifest.go).
type serviceRecord struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Command []string `json:"command_added"`
}

// manifestRecord is the backup of one Manifest: which, at which
// resourceVersion, the services the patch gives a command, and the JSON
// patch that takes them out again.
type manifestRecord struct {
	Manifest        string          `json:"manifest"`
	UID             string          `json:"uid"`
	ResourceVersion string          `json:"resource_version"`
	Services        []serviceRecord `json:"services"`
	Revert          []patchOp       `json:"revert"`
}

// backupSet is the backup action's payload: where (secret or log), and
// the records.
type backupSet struct {
	mode    string
	records []manifestRecord
}

// note is something seen and left alone, with why.
type note struct {
	object, lease, reason, message string
}

type planned struct {
	restores []restore
	notes    []note
}

// plan decides from the observed state. Pure: no I/O.
func plan(st state, now time.Time, minStuck time.Duration, manifestNS string) planned {
	var p planned
	for _, m := range st.manifests {
		id, idErr := m.Spec.LeaseID.LeaseID()
		lease := ""
		if idErr == nil {
			lease = id.String()
		}
		for i, svc := range m.Spec.Group.Services {
			if len(svc.Command) > 0 {
				continue
			}
			key := serviceKey{m.Name, svc.Name}
			r, ok := st.rollouts[key]
			if !ok || len(r.command) > 0 || r.stuckSince.IsZero() {
				continue // nothing lost, or nothing running to learn from
			}
			// Commands of the older revision's Ready pods.
			seen := map[string][]string{}
			for _, pod := range st.pods[key] {
				if r.olderRevisions[pod.revision] && len(pod.command) > 0 {
					seen[strings.Join(pod.command, "\x00")] = pod.command
				}
			}
			if len(seen) == 0 {
				continue // the old replicas ran without a command too: not this bug
			}
			object := fmt.Sprintf("Manifest/%s/%s service %s", manifestNS, m.Name, svc.Name)
			if idErr != nil {
				p.notes = append(p.notes, note{object, "", "LeaseIDInvalid", fmt.Sprintf("%s: %v; left alone", object, idErr)})
				continue
			}
			if len(seen) > 1 {
				var cmds []string
				for _, c := range seen {
					b, _ := json.Marshal(c)
					cmds = append(cmds, string(b))
				}
				sort.Strings(cmds)
				p.notes = append(p.notes, note{object, lease, "CommandAmbiguous", fmt.Sprintf(
					"%s lost its command, but its running replicas show %d different ones (%s): unsure which, left alone", object, len(seen), strings.Join(cmds, ", "))})
				continue
			}
			var command []string
			for _, c := range seen {
				command = c
			}
			stuck := now.Sub(r.stuckSince)
			ops := []patchOp{
				{Op: "test", Path: "/metadata/resourceVersion", Value: m.ResourceVersion},
				{Op: "test", Path: fmt.Sprintf("/spec/group/services/%d/name", i), Value: svc.Name},
				{Op: "add", Path: fmt.Sprintf("/spec/group/services/%d/command", i), Value: command},
			}
			patch, _ := json.Marshal(ops)
			cmdJSON, _ := json.Marshal(command)
			a := actuator.Action{
				Payload:   patch,
				Verb:      verbRestore,
				Target:    actuator.Ref{APIVersion: akash.GroupVersion.String(), Kind: "Manifest", Namespace: manifestNS, Name: m.Name, UID: string(m.UID)},
				Regarding: &actuator.Ref{APIVersion: "apps/v1", Kind: r.kind, Namespace: m.Name, Name: r.name, UID: r.uid},
				Subject:   "service " + svc.Name,
				Lease:     lease,
				Reason:    "CommandLost",
				Message: fmt.Sprintf("%s %s/%s runs its older replicas with command %s, but its Manifest service and its newest revision have none, "+
					"and that revision has not become available for %s: adding the command back to the Manifest (patch %s)",
					r.kind, m.Name, r.name, cmdJSON, stuck.Round(time.Second), patch),
			}
			if stuck < minStuck {
				a.Hold = fmt.Sprintf("the command-less revision is %s old, less than --min-stuck=%s", stuck.Round(time.Second), minStuck)
			}
			p.restores = append(p.restores, restore{action: a, manifest: m.Name, resourceVersion: m.ResourceVersion,
				record: serviceRecord{Index: i, Name: svc.Name, Command: command}})
		}
	}
	return p
}

// planBackup is the action that backs up, before any patch, what each
// restore not held changes: per Manifest its resourceVersion, the
// services given a command and the patch that takes them out again (never
// the Manifest itself: its services hold tenants' registry passwords and
// environment). To a new Secret named after now in namespace (mode
// secret), or one log line per Manifest (mode log). None when nothing is
// to be patched.
func planBackup(restores []restore, now time.Time, mode, namespace, manifestNS string) (actuator.Action, bool) {
	byName := map[string]*manifestRecord{}
	var names []string
	for _, r := range restores {
		if r.action.Hold != "" {
			continue
		}
		rec := byName[r.manifest]
		if rec == nil {
			rec = &manifestRecord{Manifest: r.manifest, UID: r.action.Target.UID, ResourceVersion: r.resourceVersion}
			byName[r.manifest] = rec
			names = append(names, r.manifest)
		}
		rec.Services = append(rec.Services, r.record)
		rec.Revert = append(rec.Revert,
			patchOp{Op: "test", Path: fmt.Sprintf("/spec/group/services/%d/name", r.record.Index), Value: r.record.Name},
			patchOp{Op: "remove", Path: fmt.Sprintf("/spec/group/services/%d/command", r.record.Index)})
	}
	if len(names) == 0 {
		return actuator.Action{}, false
	}
	sort.Strings(names)
	set := backupSet{mode: mode}
	for _, n := range names {
		set.records = append(set.records, *byName[n])
	}
	a := actuator.Action{Verb: verbBackup, Reason: "BackupBeforePatch", Payload: set}
	switch mode {
	case "log":
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: manifestNS}
		a.Message = fmt.Sprintf("writing to the log, before patching them, what the patches change in %d Manifests (each service's command, and the patch that takes it out again): %s",
			len(names), strings.Join(names, ", "))
	default:
		// Named by the time and by what it holds: two runs in one second
		// (a manual run beside the schedule) back up different patches
		// (each tests the Manifest's resourceVersion) under two names.
		sum := sha256.Sum256(fmt.Append(nil, set.records))
		name := fmt.Sprintf("restore-command-backup-%s-%x", now.UTC().Format("20060102-150405"), sum[:4])
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "Secret", Namespace: namespace, Name: name}
		a.Message = fmt.Sprintf("backing up what the patches change in %d Manifests to Secret %s/%s before patching them (undo one with: "+
			"kubectl -n %s patch manifest <manifest> --type json -p \"$(kubectl -n %s get secret %s -o jsonpath='{.data.<manifest>\\.revert}' | base64 -d)\"): %s",
			len(names), namespace, name, manifestNS, namespace, name, strings.Join(names, ", "))
	}
	return a, true
}

// planRestart is the provider's restart once Manifests are patched: the
// provider reads a Manifest only when it starts and on a tenant's deploy
// (provider cluster/service.go, cluster/kube/client.go: no watch), so a
// patch changes nothing until it restarts. patched is how many Manifests
// the run patched (or would, in a dry run or a pause). With the restart
// turned off it says so, and how to do it by hand.
func planRestart(patched int, mode string, r *providerrestart.Restarter, last *cooldown.Taken, now time.Time) (*actuator.Action, string) {
	if patched == 0 {
		return nil, ""
	}
	why := fmt.Sprintf("the provider reads a Manifest only when it starts or a tenant deploys: the %d patched Manifests take effect once it restarts", patched)
	if mode == restartNever {
		return nil, why + "; --restart-provider=never: it waits for the provider's next restart (or: " + r.Hand() + ")"
	}
	a := r.Action("ManifestPatched", why+"; deleting its pod so it starts again from the Manifests (running workloads are not touched)", nil)
	a.Hold = r.Record.Held(last, now)
	return &a, ""
}
