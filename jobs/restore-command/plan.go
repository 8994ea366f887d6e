package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
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
// whose payload is the JSON patch.
type restore struct {
	action   actuator.Action
	manifest string
}

// backupSet is the backup action's payload: where, and which Manifests.
type backupSet struct {
	mode      string // configmap or log
	manifests []string
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
func plan(st state, now time.Time, minStuck time.Duration) planned {
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
			object := fmt.Sprintf("Manifest/%s/%s service %s", akash.LeaseNamespace, m.Name, svc.Name)
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
				Target:    actuator.Ref{APIVersion: akash.GroupVersion.String(), Kind: "Manifest", Namespace: akash.LeaseNamespace, Name: m.Name, UID: string(m.UID)},
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
			p.restores = append(p.restores, restore{action: a, manifest: m.Name})
		}
	}
	return p
}

// planBackup is the action that backs up, before any patch, every Manifest
// a restore not held would patch: to a new ConfigMap named after now in
// namespace (mode configmap), or whole in the run's log (mode log). None
// when nothing is to be patched.
func planBackup(restores []restore, now time.Time, mode, namespace string) (actuator.Action, bool) {
	seen := map[string]bool{}
	var names []string
	for _, r := range restores {
		if r.action.Hold == "" && !seen[r.manifest] {
			seen[r.manifest] = true
			names = append(names, r.manifest)
		}
	}
	if len(names) == 0 {
		return actuator.Action{}, false
	}
	sort.Strings(names)
	a := actuator.Action{Verb: verbBackup, Reason: "BackupBeforePatch", Payload: backupSet{mode: mode, manifests: names}}
	switch mode {
	case "log":
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: akash.LeaseNamespace}
		a.Message = fmt.Sprintf("writing %d Manifests, whole, to the log before patching them: %s", len(names), strings.Join(names, ", "))
	default:
		name := "restore-command-backup-" + now.UTC().Format("20060102-150405")
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: namespace, Name: name}
		a.Message = fmt.Sprintf("backing up %d Manifests to ConfigMap %s/%s before patching them (restore one with: kubectl -n %s get configmap %s -o jsonpath='{.data.<manifest>\\.json}' | kubectl replace -f -): %s",
			len(names), namespace, name, namespace, name, strings.Join(names, ", "))
	}
	return a, true
}
