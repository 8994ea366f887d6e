package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"golang.org/x/sys/unix"

	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

// step is one signal of the escalation and how long to wait after it for the
// zombies to go.
type step struct {
	sig  syscall.Signal
	wait time.Duration
}

// result is how an escalation ended.
type result string

const (
	reapedOnChld result = "reaped"     // the parent reaped its zombies when asked
	terminated   result = "terminated" // the parent ended on SIGTERM; its zombies went with it
	killed       result = "killed"     // it took SIGKILL
	parentGone   result = "gone"       // the parent exited by itself before or between signals
	failedResult result = "failed"
)

// escalate is the executor of one reap-zombies action: the escalation of
// its parent (the payload), logged and counted.
func (r *reaper) escalate(ctx context.Context, esc *escalator, a actuator.Action, log zerolog.Logger) error {
	p, err := actuator.PayloadOf[parent](a)
	if err != nil {
		return err
	}
	lc := log.With().Str("subject", a.Subject)
	if a.Target.Namespace != "" {
		lc = lc.Str("namespace", a.Target.Namespace)
	}
	if a.Lease != "" {
		lc = lc.Str("lease", a.Lease)
	}
	alog := lc.Logger()
	out, err := esc.run(ctx, p, alog)
	r.metrics.escalation.WithLabelValues(string(out.result)).Inc()
	r.metrics.reaped.Add(float64(out.reaped))
	ev := alog.Info()
	if err != nil {
		ev = alog.Error().Err(err)
	}
	ev.Str("result", string(out.result)).Strs("signals", out.signals).Int("reaped", out.reaped).Msg("escalation finished")
	return err
}

// escalator asks one parent to reap its zombies, then ends it.
type escalator struct {
	table proctable.Table
	steps []step
	// poll is how often the zombies are checked while waiting.
	poll time.Duration
	// signalled is called after each signal sent.
	signalled func(sig syscall.Signal)
}

// outcome of one escalation: the result, the signals sent, the zombies gone.
type outcome struct {
	result  result
	signals []string
	reaped  int
}

// run escalates through the steps until the parent's zombies are gone. Every
// signal goes through Table.Signal, which checks the parent is still the
// process observed (PID and start time), so a PID recycled meanwhile is
// never hit.
func (e *escalator) run(ctx context.Context, p parent, log zerolog.Logger) (outcome, error) {
	var out outcome
	for _, s := range e.steps {
		name := unix.SignalName(s.sig)
		err := e.table.Signal(p.proc, s.sig)
		switch {
		case errors.Is(err, proctable.ErrGone), errors.Is(err, proctable.ErrRecycled):
			// It exited on its own (or after the previous signal took a
			// while): its zombies went to the shim, which reaps them.
			out.result = parentGone
			out.reaped = len(p.zombies) - e.remaining(p)
			log.Info().Str("signal", name).Err(err).Msg("parent exited before this signal; nothing sent")
			return out, nil
		case err != nil:
			out.result = failedResult
			return out, err
		}
		out.signals = append(out.signals, name)
		if e.signalled != nil {
			e.signalled(s.sig)
		}
		log.Info().Str("signal", name).Dur("wait", s.wait).Msg("signal sent")
		left, err := e.waitGone(ctx, p, s.wait)
		out.reaped = len(p.zombies) - left
		if err != nil {
			out.result = failedResult
			return out, err
		}
		if left == 0 {
			out.result = resultOf(s.sig)
			return out, nil
		}
		log.Info().Str("signal", name).Int("zombies_left", left).Msg("zombies still there")
	}
	out.result = failedResult
	return out, fmt.Errorf("%d of %d zombies of %s remain after %v", len(p.zombies)-out.reaped, len(p.zombies), p.proc, out.signals)
}

func resultOf(sig syscall.Signal) result {
	switch sig {
	case syscall.SIGCHLD:
		return reapedOnChld
	case syscall.SIGKILL:
		return killed
	}
	return terminated
}

// waitGone waits up to d for p's zombies to go and returns how many are left.
func (e *escalator) waitGone(ctx context.Context, p parent, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		left := e.remaining(p)
		if left == 0 || !time.Now().Before(deadline) {
			return left, nil
		}
		t := time.NewTimer(min(e.poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return left, fmt.Errorf("stopped while waiting for the zombies of %s: %w", p.proc, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// remaining counts the zombies of p that are still its zombie children.
func (e *escalator) remaining(p parent) int {
	left := 0
	for _, z := range p.zombies {
		cur, err := e.table.Lookup(z.pid)
		if err != nil {
			continue // gone (an unreadable entry is gone for our purpose)
		}
		if cur.Start == z.start && cur.Zombie() && cur.PPID == p.proc.PID {
			left++
		}
	}
	return left
}
