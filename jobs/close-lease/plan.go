package main

import (
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

// plan is the one action for the lease as the chain has it: a close, held
// when the chain would refuse it (closed, inside its reclamation window,
// or with a window not started), or, with startReclaim, the start of its
// reclamation window.
func plan(l chain.Lease, now time.Time, reason string, startReclaim bool) actuator.Action {
	a := actuator.Action{Verb: leaseclose.VerbClose, Target: actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: l.ID.Namespace()},
		Lease: l.ID.String(), Reason: "OperatorClose", Payload: l,
		Message: fmt.Sprintf("closing on the operator's demand (%s, reason %s)", l.State, reason)}
	deadline, inWindow := l.InReclamationWindow(now)
	switch {
	case l.Ended():
		a.Hold = leaseclose.AlreadyEnded(l).Error()
	case inWindow:
		a.Hold = "in its reclamation window until " + chain.WindowText(deadline)
	case l.ReclamationUnstarted() && startReclaim:
		a.Verb = leaseclose.VerbStartReclaim
		a.Message = fmt.Sprintf("starting the lease's reclamation window (%s) on the operator's demand (reason %s); close it after the deadline", l.Reclamation.Window, reason)
	case l.ReclamationUnstarted():
		a.Hold = fmt.Sprintf("its reclamation window (%s) has not started: the chain refuses the close; start it with --start-reclaim, then close after the deadline", l.Reclamation.Window)
	}
	return a
}
