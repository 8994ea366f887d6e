// Package actuator carries out the actions a job planned. It alone knows
// dry-run, the per-run budget, the audit line per action, the Kubernetes Event
// on the object acted on, and the run summary, so no job branches on dry-run
// and every job is audited the same way.
package actuator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Ref names a Kubernetes object.
type Ref struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        string
}

// LogNamespace is the namespace a log line names for the object: its own,
// or, for a Namespace, the namespace itself (a lease's namespace, closed
// with its lease); "" for other cluster-scoped objects.
func (r Ref) LogNamespace() string {
	if r.Kind == "Namespace" && r.Namespace == "" {
		return r.Name
	}
	return r.Namespace
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Action is one change a job wants, with the reason it wants it. Plans are
// lists of Actions built by pure functions; the Executor given to Apply knows
// how to carry out each Verb.
type Action struct {
	// Verb says what is done, in the log's `action` field: "delete-replicaset".
	Verb string
	// Target is the object changed.
	Target Ref
	// Subject is what inside the Target is acted on, when it is not the
	// object itself: "process 4242 (bash)". Logged as `subject`.
	Subject string
	// Regarding is the object the Event is recorded on, when it is not the
	// Target (an Event on a ReplicaSet about to be deleted would vanish with it).
	Regarding *Ref
	// Lease is the lease ID (owner/dseq/gseq/oseq/provider), if known.
	Lease string
	// Reason is a short CamelCase cause, the Event's reason: "RolloutStuck".
	Reason string
	// Message is one sentence for people: why, with the evidence.
	Message string
	// Hold, when set, says why this action is planned but must not be done
	// in this run (too young, waiting for the provider...). It is logged and
	// counted as skipped.
	Hold string
	// Also lists further objects the Event is recorded on (the Node a
	// process ran on, besides its Pod).
	Also []Ref
	// OwnLimit, when set, says what limits this action instead of the
	// run's budget (--max-actions): "at most one a run, once an hour". It
	// is not counted against that budget and not held by it, so the
	// action that ends a run (restarting the provider after its
	// teardowns) is not crowded out by them; a budget of 0 still holds
	// it. Dry-run, the pause, Hold and the audit apply as to any action.
	OwnLimit string
	// Payload is what the plan decided for the executor to carry out (the
	// lease to close, the patch to apply): read it with PayloadOf, so an
	// executor never looks its input up again by a string.
	Payload any
}

// PayloadOf returns the action's payload as a T; an error names the action
// when it carries none, or another type (a planning bug: nothing is done).
func PayloadOf[T any](a Action) (T, error) {
	p, ok := a.Payload.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("action %s on %s carries %T, the executor wants %T", a.Verb, a.Target, a.Payload, zero)
	}
	return p, nil
}

// skip is an executor's answer that the action was not carried out
// because what the plan relied on no longer holds.
type skip struct{ why string }

func (s *skip) Error() string { return s.why }

// Skip is what an executor returns when a precondition checked just before
// acting no longer holds (the lease closed meanwhile, the object was
// replaced): the action is counted and audited as skipped with why, not
// as failed, and no Event is recorded.
func Skip(format string, args ...any) error { return &skip{why: fmt.Sprintf(format, args...)} }

// Executor carries out one action.
type Executor func(ctx context.Context, a Action) error

// EventSink records what happened to an action on its object.
type EventSink interface {
	Record(ctx context.Context, a Action, outcome Outcome, detail string) error
}

// Outcome is what became of an action.
type Outcome string

const (
	Planned Outcome = "planned" // dry-run: would have been done
	Done    Outcome = "done"
	Skipped Outcome = "skipped" // held, past the budget, or the run was stopped
	Failed  Outcome = "failed"
	// Found is a finding of a job that reports rather than acts: nothing
	// was changed; the Event on the object is a Warning.
	Found Outcome = "found"
)

// Options configure an Actuator.
type Options struct {
	DryRun bool
	// MaxActions is the per-run budget of actions carried out (or, in
	// dry-run, planned); the rest are reported as skipped. 0 means none.
	MaxActions int
	// Events, if set, records an Event per action done or failed. Dry-run
	// records none: it changes nothing.
	Events EventSink
	Log    zerolog.Logger
	// Pause, if set, says whether every action of the job is held and why
	// ("" if not): "paused: ..." when the operator paused it, "blocked:
	// ..." when the cluster is not fit for it. It is asked once for a run
	// (New) and once for each pass (Pass); while it holds, every action is
	// skipped with that detail: planned and logged as ever, nothing carried
	// out, no Event.
	Pause func() string
}

// Actuator applies plans and keeps the run's totals.
type Actuator struct {
	opts   Options
	parent *Actuator

	mu       sync.Mutex
	summary  Summary
	inflight int    // actions being carried out, counted against the budget
	exempt   int    // of those carried out, planned or in flight: with an OwnLimit
	paused   string // why every action is held ("" if none is)
}

// Pass returns an actuator for one pass of a long-running job: the same
// options, a budget and summary of its own, and totals that add up into a's.
func (a *Actuator) Pass() *Actuator {
	p := &Actuator{opts: a.opts, parent: a}
	p.askPause()
	return p
}

// askPause asks whether the job is paused or blocked, and says so once in
// the log.
func (a *Actuator) askPause() {
	if a.opts.Pause == nil {
		return
	}
	if a.paused = a.opts.Pause(); a.paused != "" {
		a.opts.Log.Warn().Str("reason", a.paused).Msg("held: every action is held, nothing is changed")
	}
}

// Paused returns why every action is held ("" if none is).
func (a *Actuator) Paused() string { return a.paused }

// countUp adds to the totals of a's parents; a's own are updated under its
// lock by the caller, together with the budget they decide.
func (a *Actuator) countUp(f func(s *Summary)) {
	for x := a.parent; x != nil; x = x.parent {
		x.mu.Lock()
		f(&x.summary)
		x.mu.Unlock()
	}
}

// New returns an Actuator.
func New(opts Options) *Actuator {
	a := &Actuator{opts: opts}
	a.askPause()
	return a
}

// DryRun tells whether this actuator changes nothing.
func (a *Actuator) DryRun() bool { return a.opts.DryRun }

// Acting tells whether this run carries actions out: neither a dry run
// nor paused or blocked. A job keeps its own bookkeeping for the next
// run (what it saw that an action will rest on) only then, so a run that
// changes nothing writes nothing either.
func (a *Actuator) Acting() bool { return !a.opts.DryRun && a.paused == "" }

// Summary is the run's totals.
type Summary struct {
	Actions int // every action the run planned, whatever became of it
	Planned int // in dry-run: the actions a real run would carry out
	Done    int // carried out (never in dry-run)
	Skipped int
	Failed  int
	// Findings counts what a reporting job found (see Report).
	Findings int
}

// Summary returns the totals so far.
func (a *Actuator) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.summary
}

// ErrFailed is returned by Apply when at least one action failed.
var ErrFailed = errors.New("some actions failed")

// Apply carries out the actions in order, within the budget, and returns
// ErrFailed (wrapped with the count) if any failed. Actions are independent:
// one failing does not stop the others, but a cancelled context does, and the
// rest are reported as skipped.
func (a *Actuator) Apply(ctx context.Context, actions []Action, exec Executor) error {
	return a.ApplyParallel(ctx, actions, exec, 1)
}

// ApplyParallel is Apply with up to parallel actions carried out at once,
// for actions that take long and do not depend on each other (escalating
// signals to several processes). The budget holds as with Apply: an action
// takes its share of the budget when it starts.
func (a *Actuator) ApplyParallel(ctx context.Context, actions []Action, exec Executor, parallel int) error {
	_, err := a.applyParallel(ctx, actions, exec, parallel)
	return err
}

// ApplyOutcomes is Apply that also says what became of each action, in
// order, for a job whose next decision depends on it (a restart after the
// teardowns done, or planned in a dry run).
func (a *Actuator) ApplyOutcomes(ctx context.Context, actions []Action, exec Executor) ([]Outcome, error) {
	return a.applyParallel(ctx, actions, exec, 1)
}

func (a *Actuator) applyParallel(ctx context.Context, actions []Action, exec Executor, parallel int) ([]Outcome, error) {
	if parallel < 1 {
		parallel = 1
	}
	outcomes := make([]Outcome, len(actions))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		slots  = make(chan struct{}, parallel)
	)
	for i, act := range actions {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			outcome, detail, err := a.applyOne(ctx, act, exec)
			outcomes[i] = outcome
			a.audit(act, outcome, detail, err)
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		return outcomes, fmt.Errorf("%w: %d of %d", ErrFailed, failed, len(actions))
	}
	return outcomes, nil
}

// admit counts the action as planned and decides whether it is carried out:
// it returns an outcome when it is not (held, stopped, past the budget,
// dry-run), or "" when the caller carries it out, its share of the budget
// taken.
func (a *Actuator) admit(ctx context.Context, act Action) (Outcome, string) {
	a.mu.Lock()
	var outcome Outcome
	var detail string
	switch {
	case a.paused != "":
		outcome, detail = Skipped, a.paused
	case act.Hold != "":
		outcome, detail = Skipped, act.Hold
	case ctx.Err() != nil:
		outcome, detail = Skipped, "run stopped: "+context.Cause(ctx).Error()
	case act.OwnLimit == "" && a.summary.Done+a.summary.Planned+a.summary.Failed+a.inflight-a.exempt >= a.opts.MaxActions:
		outcome, detail = Skipped, fmt.Sprintf("budget of %d actions per run used up (--max-actions)", a.opts.MaxActions)
	case a.opts.MaxActions == 0:
		// --max-actions=0 does nothing, whatever limit an action has.
		outcome, detail = Skipped, "budget of 0 actions per run (--max-actions): nothing is done"
	case a.opts.DryRun:
		outcome, detail = Planned, "dry-run: nothing changed"
	default:
		a.inflight++
	}
	if act.OwnLimit != "" && outcome != Skipped {
		a.exempt++
	}
	count := func(s *Summary) {
		s.Actions++
		switch outcome {
		case Skipped:
			s.Skipped++
		case Planned:
			s.Planned++
		}
	}
	count(&a.summary)
	a.mu.Unlock()
	a.countUp(count)
	return outcome, detail
}

func (a *Actuator) applyOne(ctx context.Context, act Action, exec Executor) (Outcome, string, error) {
	outcome, detail := a.admit(ctx, act)
	if outcome != "" {
		return outcome, detail, nil
	}
	return a.finish(ctx, act, exec(ctx, act))
}

// finish counts an admitted action carried out, or skipped by its
// executor (Skip), and records its Event; the error it returns is the
// action's failure, nil for a skip.
func (a *Actuator) finish(ctx context.Context, act Action, err error) (Outcome, string, error) {
	var s *skip
	if errors.As(err, &s) {
		count := func(sum *Summary) { sum.Skipped++ }
		a.mu.Lock()
		a.inflight--
		if act.OwnLimit != "" {
			a.exempt--
		}
		count(&a.summary)
		a.mu.Unlock()
		a.countUp(count)
		return Skipped, s.why, nil
	}
	outcome, detail := Done, ""
	if err != nil {
		outcome, detail = Failed, err.Error()
	}
	count := func(s *Summary) {
		if err != nil {
			s.Failed++
		} else {
			s.Done++
		}
	}
	a.mu.Lock()
	a.inflight--
	count(&a.summary)
	a.mu.Unlock()
	a.countUp(count)

	if a.opts.Events != nil {
		// The Event is the record operators read with `kubectl get events`;
		// failing to write it does not undo the action, so it is only logged.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if eerr := a.opts.Events.Record(ectx, act, outcome, detail); eerr != nil {
			a.opts.Log.Warn().Err(eerr).Str("action", act.Verb).Str("object", act.Target.String()).
				Msg("could not record the Kubernetes Event for this action")
		}
	}
	return outcome, detail, err
}

// BatchResult is what became of one action of a batch: its error (Skip
// for a precondition that no longer held), and fields for its audit line
// (the transaction hash, the backend).
type BatchResult struct {
	Err    error
	Fields map[string]string
}

// BatchExecutor carries out several actions at once (closing leases in
// one transaction) and returns one result per action, in order.
type BatchExecutor func(ctx context.Context, batch []Action) []BatchResult

// ApplyBatched is Apply for actions carried out in batches of up to size:
// each action is admitted (hold, budget, dry-run) and audited as with
// Apply; the admitted ones go to exec together.
func (a *Actuator) ApplyBatched(ctx context.Context, actions []Action, size int, exec BatchExecutor) error {
	size = max(size, 1)
	failed := 0
	var batch []Action
	flush := func() {
		if len(batch) == 0 {
			return
		}
		results := exec(ctx, batch)
		for i, act := range batch {
			r := BatchResult{Err: fmt.Errorf("the batch executor returned no result for this action")}
			if i < len(results) {
				r = results[i]
			}
			outcome, detail, err := a.finish(ctx, act, r.Err)
			a.auditWith(act, outcome, detail, err, r.Fields)
			if err != nil {
				failed++
			}
		}
		batch = batch[:0]
	}
	for _, act := range actions {
		if outcome, detail := a.admit(ctx, act); outcome != "" {
			a.audit(act, outcome, detail, nil)
			continue
		}
		batch = append(batch, act)
		if len(batch) == size {
			flush()
		}
	}
	flush()
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrFailed, failed, len(actions))
	}
	return nil
}

// audit writes the one line per action that says what was (or would be) done.
func (a *Actuator) audit(act Action, outcome Outcome, detail string, err error) {
	a.auditWith(act, outcome, detail, err, nil)
}

func (a *Actuator) auditWith(act Action, outcome Outcome, detail string, err error, fields map[string]string) {
	ev := a.opts.Log.Info()
	if err != nil {
		ev = a.opts.Log.Error().Err(err)
	}
	ev = ev.Str("action", act.Verb).
		Str("object", act.Target.String())
	if ns := act.Target.LogNamespace(); ns != "" {
		ev = ev.Str("namespace", ns)
	}
	ev = ev.Str("reason", act.Reason).
		Str("outcome", string(outcome)).
		Bool("dry_run", a.opts.DryRun)
	if act.Lease != "" {
		ev = ev.Str("lease", act.Lease)
	}
	if act.Subject != "" {
		ev = ev.Str("subject", act.Subject)
	}
	if detail != "" && err == nil {
		ev = ev.Str("detail", detail)
	}
	for k, v := range fields {
		ev = ev.Str(k, v)
	}
	ev.Msg(act.Message)
}

// Report records findings of a job that looks and tells rather than acts:
// one warning line each and, unless dry-run, a Warning Event on its object
// (if it has one: a Target without a name gets the line only).
// Findings need no budget: they change nothing.
func (a *Actuator) Report(ctx context.Context, findings []Action) {
	for _, f := range findings {
		a.count(func(s *Summary) { s.Findings++ })
		ev := a.opts.Log.Warn().
			Str("finding", f.Verb).
			Str("object", f.Target.String()).
			Str("reason", f.Reason).
			Bool("dry_run", a.opts.DryRun)
		if ns := f.Target.LogNamespace(); ns != "" {
			ev = ev.Str("namespace", ns)
		}
		if f.Lease != "" {
			ev = ev.Str("lease", f.Lease)
		}
		if f.Subject != "" {
			ev = ev.Str("subject", f.Subject)
		}
		ev.Msg(f.Message)
		if a.opts.Events == nil || a.opts.DryRun || f.Target.Name == "" {
			continue
		}
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := a.opts.Events.Record(ectx, f, Found, ""); err != nil {
			a.opts.Log.Warn().Err(err).Str("object", f.Target.String()).Msg("could not record the Kubernetes Event for this finding")
		}
		cancel()
	}
}

// count adds to a's totals and its parents'.
func (a *Actuator) count(f func(s *Summary)) {
	a.mu.Lock()
	f(&a.summary)
	a.mu.Unlock()
	a.countUp(f)
}

// LogSummary writes the run's one summary line ("pass summary" for the
// actuator of one pass).
func (a *Actuator) LogSummary(log zerolog.Logger, elapsed time.Duration, runErr error) {
	msg := "run summary"
	if a.parent != nil {
		msg = "pass summary"
	}
	s := a.Summary()
	ev := log.Info()
	if runErr != nil || s.Failed > 0 {
		ev = log.Error()
		if runErr != nil {
			ev = ev.Err(runErr)
		}
	}
	if s.Findings > 0 {
		ev = ev.Int("findings", s.Findings)
	}
	ev.Int("actions", s.Actions).
		Int("planned", s.Planned).
		Int("done", s.Done).
		Int("skipped", s.Skipped).
		Int("failed", s.Failed).
		Bool("dry_run", a.opts.DryRun).
		Dur("elapsed", elapsed).
		Msg(msg)
}
