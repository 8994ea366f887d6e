package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// rules decide which zombie parents are acted on.
type rules struct {
	// shimComms are glob patterns of the container shim's comm.
	shimComms []string
	// minAge: a zombie counts once it has been seen for this long.
	minAge time.Duration
	// minZombies: a parent is acted on once it has this many counted zombies.
	minZombies int
	// withinPID, if not 0, limits the reaper to this process's subtree, and
	// makes it the top of the world: a shim above it does not count.
	withinPID int
	// self is the reaper's own PID: it and its ancestors are never signalled.
	self int
}

// identity names one process for good.
type identity struct {
	pid   int
	start uint64
}

func idOf(p proctable.Process) identity { return identity{p.PID, p.Start} }

// ageBook remembers when each zombie was first seen. The kernel does not
// record when a process became a zombie (its start time is when it was
// born), so a zombie's age is counted from the first pass that saw it. It
// is a slice in PID order, 24 bytes a zombie, remade by each pass from the
// last one: a node can hold hundreds of thousands of zombies.
type ageBook struct {
	seen []firstSeen
}

type firstSeen struct {
	id    identity
	first int64 // Unix nanoseconds
}

func newAgeBook() *ageBook { return &ageBook{} }

// update records the zombies of snap first seen now and forgets the ones
// that are gone.
func (b *ageBook) update(snap proctable.Snapshot, now time.Time) {
	next := make([]firstSeen, 0, len(b.seen))
	old := b.seen
	for p := range snap.All() {
		if !p.Zombie() {
			continue
		}
		// Both are in PID order: skip the old entries below this PID.
		for len(old) > 0 && old[0].id.pid < p.PID {
			old = old[1:]
		}
		e := firstSeen{id: idOf(p), first: now.UnixNano()}
		if len(old) > 0 && old[0].id == e.id {
			e.first = old[0].first
		}
		next = append(next, e)
	}
	b.seen = next
}

func (b *ageBook) age(id identity, now time.Time) time.Duration {
	i, ok := slices.BinarySearchFunc(b.seen, id.pid, func(e firstSeen, pid int) int { return cmp.Compare(e.id.pid, pid) })
	if ok && b.seen[i].id == id {
		return now.Sub(time.Unix(0, b.seen[i].first))
	}
	return 0
}

// parent is a process with zombie children and what the rules made of it.
type parent struct {
	proc    proctable.Process
	zombies []identity // in PID order
	// shim is the nearest container shim above proc (zero if none).
	shim proctable.Process
	// ripe counts the zombies at least minAge old; oldest is the oldest age.
	ripe   int
	oldest time.Duration
	// act: the rules say act. hold: why not yet (thresholds). ignore: why
	// never (not in a container, the shim itself, PID 1, the reaper).
	act    bool
	hold   string
	ignore string
}

// plan groups the zombies of snap by parent and decides for each parent.
// Parents outside withinPID's subtree are left out entirely.
func plan(snap proctable.Snapshot, book *ageBook, now time.Time, r rules) []parent {
	// Two walks, so that each parent's zombies take one slice of the size
	// they need: there may be hundreds of thousands.
	counts := map[int]int{}
	for p := range snap.All() {
		if p.Zombie() {
			counts[p.PPID]++
		}
	}
	byParent := make(map[int][]identity, len(counts))
	for ppid, n := range counts {
		byParent[ppid] = make([]identity, 0, n)
	}
	for p := range snap.All() {
		if p.Zombie() {
			byParent[p.PPID] = append(byParent[p.PPID], idOf(p))
		}
	}
	selfChain := map[int]bool{r.self: true}
	for _, a := range snap.Ancestors(r.self) {
		selfChain[a.PID] = true
	}

	var out []parent
	for ppid, zombies := range byParent {
		proc, known := snap.Get(ppid)
		if !known {
			// Exited (or PID 0) between the reads: its zombies are being
			// reparented; the next pass sees their new parent.
			continue
		}
		ancestors := snap.Ancestors(ppid)
		if r.withinPID != 0 {
			if !under(r.withinPID, proc, ancestors) {
				continue
			}
			for i, a := range ancestors {
				if a.PID == r.withinPID {
					ancestors = ancestors[:i+1]
					break
				}
			}
		}
		p := parent{proc: proc, zombies: zombies}
		for _, z := range zombies {
			age := book.age(z, now)
			if age >= r.minAge {
				p.ripe++
			}
			if age > p.oldest {
				p.oldest = age
			}
		}
		for _, a := range ancestors {
			if matchesAny(r.shimComms, a.Comm) {
				p.shim = a
				break
			}
		}
		switch {
		case proc.PID == 1:
			p.ignore = "the parent is PID 1 of the host"
		case selfChain[proc.PID]:
			p.ignore = "the parent is the reaper itself or one of its ancestors"
		case matchesAny(r.shimComms, proc.Comm):
			p.ignore = "the parent is the container shim itself, which reaps its own children"
		case p.shim.PID == 0:
			p.ignore = "the parent is not inside a container (no container shim among its ancestors)"
		case len(zombies) < r.minZombies:
			p.hold = fmt.Sprintf("%d zombies, fewer than --min-zombies=%d", len(zombies), r.minZombies)
		case p.ripe < r.minZombies:
			p.hold = fmt.Sprintf("%d of %d zombies seen for --min-zombie-age=%s; waiting for %d", p.ripe, len(zombies), r.minAge, r.minZombies)
		default:
			p.act = true
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].proc.PID < out[j].proc.PID })
	return out
}

// under tells whether proc is root or below it.
func under(root int, proc proctable.Process, ancestors []proctable.Process) bool {
	if proc.PID == root {
		return true
	}
	for _, a := range ancestors {
		if a.PID == root {
			return true
		}
	}
	return false
}

func matchesAny(patterns []string, comm string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, comm); ok {
			return true
		}
	}
	return false
}

// decision is a pass's actions (payload: the parent) and its tallies for
// the log and the metrics.
type decision struct {
	actions []actuator.Action
	ignored []parent
	// zombies counts them all; byNamespace by the namespace of their
	// parent's pod ("" when unknown or ignored); parents by act, hold,
	// ignore.
	zombies     int
	byNamespace map[string]int
	parents     map[string]int
}

// decide turns the plan's parents, and where each runs, into actions: one
// per parent not ignored, held when the rules say not yet. Pure.
func decide(parents []parent, places map[int]where, node string) decision {
	d := decision{byNamespace: map[string]int{}, parents: map[string]int{"act": 0, "hold": 0, "ignore": 0}}
	for _, p := range parents {
		d.zombies += len(p.zombies)
		if p.ignore != "" {
			d.parents["ignore"]++
			d.byNamespace[""] += len(p.zombies)
			d.ignored = append(d.ignored, p)
			continue
		}
		w := places[p.proc.PID]
		ns := ""
		if w.pod != nil {
			ns = w.pod.Namespace
		}
		d.byNamespace[ns] += len(p.zombies)
		a := action(p, w, node)
		if p.act {
			d.parents["act"]++
		} else {
			d.parents["hold"]++
			a.Hold = p.hold
		}
		d.actions = append(d.actions, a)
	}
	return d
}

// action is the record of one parent: on its pod (and the node), or on the
// node alone when the pod is unknown.
func action(p parent, w where, nodeName string) actuator.Action {
	node := actuator.Ref{APIVersion: "v1", Kind: "Node", Name: nodeName}
	a := actuator.Action{
		Verb:    "reap-zombies",
		Target:  node,
		Subject: fmt.Sprintf("process %d (%s)", p.proc.PID, p.proc.Comm),
		Lease:   w.lease,
		Reason:  "ZombieProcesses",
		Payload: p,
	}
	in := "in a container"
	if w.pod != nil {
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: w.pod.Namespace, Name: w.pod.Name, UID: string(w.pod.UID)}
		if nodeName != "" {
			a.Also = []actuator.Ref{node}
		}
		in = fmt.Sprintf("in pod %s/%s", w.pod.Namespace, w.pod.Name)
		if w.container != "" {
			in = fmt.Sprintf("in container %s of pod %s/%s", w.container, w.pod.Namespace, w.pod.Name)
		}
	} else if nodeName == "" {
		a.Target = actuator.Ref{APIVersion: "v1", Kind: "Node", Name: "(unknown node)"}
	}
	a.Message = fmt.Sprintf("%s %s on node %s has %d zombie children (oldest seen %s ago): asking it to reap them (SIGCHLD), then ending it (SIGTERM, SIGKILL)",
		a.Subject, in, nodeName, len(p.zombies), p.oldest.Round(time.Second))
	return a
}
