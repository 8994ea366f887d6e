package main

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

// match is one service of a lease running a denied image.
type match struct {
	// image is the reference normalized (docker.io/x/y:latest); written
	// is how the Manifest or the runtime wrote it.
	service, image, written, entry string
	// running names the container when the match is what its runtime
	// reports (its image or resolved digest), not the Manifest's image.
	running string
}

// String says the image as written and, when the match read it otherwise,
// as normalized, so an operator finds it in the Manifest and sees what
// the denylist compared.
func (m match) String() string {
	var about []string
	if m.written != "" && m.written != m.image {
		about = append(about, m.image)
	}
	if m.running != "" {
		about = append(about, m.running)
	}
	about = append(about, fmt.Sprintf("denied by %q", m.entry))
	return fmt.Sprintf("service %s runs %s (%s)", m.service, cmp.Or(m.written, m.image), strings.Join(about, "; "))
}

// denial is a lease to close and every reason found for it.
type denial struct {
	id      akash.LeaseID
	matches []match
}

// note is something the plan skipped, for the log.
type note struct {
	object, lease, service string
	err                    error
	msg                    string
}

const verbClose = leaseclose.VerbClose

// decision is what a run does: the denied leases, the closes, and the
// reclamation starts of leases with a window not started (AEP-82), each
// action's payload the chain.Lease as listed.
type decision struct {
	denials        []denial
	closes, starts []actuator.Action
}

// plan decides from what was observed alone: every denied lease of the
// provider is closed if the chain lists it active, or reclaiming past its
// deadline; one with a reclamation window not started gets that started
// (it is closed by a later run, once the deadline has passed); one inside
// its window is held with the deadline; one the chain does not list live
// is held. The executor reads each lease again just before signing.
func plan(o observed, lists imagematch.Lists, provider string, now time.Time) (decision, []note) {
	denials, notes := deny(o, lists, provider)
	d := decision{denials: denials}
	for _, den := range denials {
		var why []string
		for _, m := range den.matches {
			why = append(why, m.String())
		}
		a := actuator.Action{
			Verb:    verbClose,
			Target:  actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: den.id.Namespace()},
			Lease:   den.id.String(),
			Reason:  "DeniedImage",
			Message: "closing the lease: " + strings.Join(why, "; "),
		}
		l, live := o.chain[den.id]
		deadline, inWindow := l.InReclamationWindow(now)
		switch {
		case !live:
			a.Hold = "the chain lists it neither active nor reclaiming (closed already, or unknown to it): nothing to close"
		case l.ReclamationUnstarted():
			a.Verb = leaseclose.VerbStartReclaim
			a.Message = fmt.Sprintf("starting the lease's reclamation window (%s), after which a run closes it: %s", l.Reclamation.Window, strings.Join(why, "; "))
		case inWindow:
			a.Hold = "in its reclamation window; it cannot be closed before its deadline, " + chain.WindowText(deadline)
		}
		a.Payload = l
		if a.Verb == leaseclose.VerbStartReclaim {
			d.starts = append(d.starts, a)
		} else {
			d.closes = append(d.closes, a)
		}
	}
	return d, notes
}

// deny finds the provider's leases running a denied image: in a Manifest
// service's image, or in what a pod's runtime reports it started (the image
// and the digest it resolved, so a digest entry catches the image whatever
// the tenant called it).
func deny(o observed, lists imagematch.Lists, provider string) ([]denial, []note) {
	var out []denial
	var notes []note
	for _, l := range o.leases {
		if l.idErr != nil {
			notes = append(notes, note{object: "Manifest/" + o.manifestNS + "/" + l.name, err: l.idErr,
				msg: "Manifest without a valid lease ID is skipped"})
			continue
		}
		if l.id.Provider != provider {
			continue
		}
		var matches []match
		type key struct{ service, image, entry, running string }
		seen := map[key]bool{}
		add := func(m match) {
			// What the runtime reports adds a reason only where it differs
			// from the Manifest's (another image, a resolved digest), however
			// either wrote it.
			k := key{m.service, m.image, m.entry, m.running}
			said := k
			said.running = ""
			if !seen[k] && !seen[said] {
				seen[k] = true
				matches = append(matches, m)
			}
		}
		for _, svc := range l.services {
			img, err := imagematch.ParseImage(svc.Image)
			if err != nil {
				notes = append(notes, note{lease: l.id.String(), service: svc.Name, err: err, msg: "service image does not parse; skipped"})
				continue
			}
			if e, denied := lists.Denied(img); denied {
				add(match{service: svc.Name, image: img.Normalized, written: svc.Image, entry: e.Text})
			}
		}
		for _, r := range l.running {
			where := fmt.Sprintf("container %s of pod %s", r.container, r.pod)
			for _, ref := range []struct{ text, kind string }{{r.image, "image"}, {r.imageID, "image ID"}} {
				if ref.text == "" {
					continue
				}
				img, err := imagematch.ParseImageID(ref.text)
				if err != nil {
					notes = append(notes, note{lease: l.id.String(), service: r.service, err: err, msg: "the runtime's " + ref.kind + " does not parse; skipped"})
					continue
				}
				if e, denied := lists.Denied(img); denied {
					add(match{service: r.service, image: img.Normalized, written: ref.text, entry: e.Text, running: where + ", the runtime's " + ref.kind})
				}
			}
		}
		if len(matches) > 0 {
			out = append(out, denial{id: l.id, matches: matches})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.String() < out[j].id.String() })
	return out, notes
}
