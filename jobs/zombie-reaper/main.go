// zombie-reaper keeps tenant containers from filling a node's PID table with
// zombie processes.
//
// It runs on every node (a DaemonSet with hostPID) and, every --interval
// (jittered so nodes do not act in the same second), reads the whole process
// table, groups the zombies by parent and, for each parent inside a
// container (a containerd shim among its ancestors; never the shim itself,
// never PID 1, never outside containers) that has at least --min-zombies
// zombies seen for --min-zombie-age, asks it to reap them with SIGCHLD, then
// ends it with SIGTERM and SIGKILL, waiting after each signal. Parents are
// handled concurrently. Each signal is sent only if the PID still names the
// process observed, so a recycled PID is never hit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/proctable"
)

type options struct {
	procRoot    string
	nodeName    string
	shimComms   string
	minAge      time.Duration
	minZombies  int
	chldWait    time.Duration
	termWait    time.Duration
	killWait    time.Duration
	interval    time.Duration
	jitter      float64
	once        bool
	withinPID   int
	parallel    int
	metricsAddr string
}

func main() {
	job.Main(spec(&options{}))
}

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "zombie-reaper",
		Summary:           "make the parents of zombie processes in containers reap them, or end those parents",
		DefaultMaxActions: 20,
		Pausable:          true,
		Loop:              true,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.procRoot, "proc", "/proc", "the proc filesystem to read (the node's, with hostPID)")
			fs.StringVar(&o.nodeName, "node-name", "", "this node's name, for attribution and Events (the chart sets it from spec.nodeName)")
			fs.StringVar(&o.shimComms, "shim-comm", "containerd-shim*",
				"comma-separated glob patterns of the container shim's process name (comm, at most 15 characters)")
			fs.DurationVar(&o.minAge, "min-zombie-age", time.Minute,
				"a zombie counts once the reaper has seen it for this long, so a parent that reaps a little late is left alone")
			fs.IntVar(&o.minZombies, "min-zombies", 1, "act on a parent once it has this many counted zombies")
			fs.DurationVar(&o.chldWait, "sigchld-wait", 15*time.Second, "wait after SIGCHLD for the parent to reap")
			fs.DurationVar(&o.termWait, "sigterm-wait", 15*time.Second, "wait after SIGTERM for the parent to end")
			fs.DurationVar(&o.killWait, "sigkill-wait", 5*time.Second, "wait after SIGKILL for the zombies to go")
			fs.DurationVar(&o.interval, "interval", 30*time.Second, "time between passes")
			fs.Float64Var(&o.jitter, "jitter", 0.2, "each wait between passes is longer by up to this fraction of --interval, at random")
			fs.BoolVar(&o.once, "once", false, "one pass, then exit (with --min-zombie-age, two looks that far apart)")
			fs.IntVar(&o.withinPID, "within-pid", 0, "only parents in this process's subtree (0: the whole node); for tests and trials")
			fs.IntVar(&o.parallel, "parallel", 16, "parents escalated at the same time")
			fs.StringVar(&o.metricsAddr, "metrics-addr", ":9101", "address of /metrics and /healthz; empty: none")
		},
		Validate: o.validate,
		Run: func(ctx context.Context, env *job.Env) error {
			return run(ctx, env, *o)
		},
	}
}

func (o *options) validate() error {
	var errs []error
	nonNegative := map[string]time.Duration{"min-zombie-age": o.minAge, "sigchld-wait": o.chldWait, "sigterm-wait": o.termWait, "sigkill-wait": o.killWait}
	for _, name := range []string{"min-zombie-age", "sigchld-wait", "sigterm-wait", "sigkill-wait"} {
		if nonNegative[name] < 0 {
			errs = append(errs, fmt.Errorf("--%s=%s: must not be negative", name, nonNegative[name]))
		}
	}
	if o.interval <= 0 {
		errs = append(errs, fmt.Errorf("--interval=%s: must be positive", o.interval))
	}
	if o.jitter < 0 || o.jitter > 1 {
		errs = append(errs, fmt.Errorf("--jitter=%v: must be between 0 and 1", o.jitter))
	}
	if o.minZombies < 1 {
		errs = append(errs, fmt.Errorf("--min-zombies=%d: must be 1 or more", o.minZombies))
	}
	if o.parallel < 1 {
		errs = append(errs, fmt.Errorf("--parallel=%d: must be 1 or more", o.parallel))
	}
	if o.withinPID < 0 {
		errs = append(errs, fmt.Errorf("--within-pid=%d: must not be negative", o.withinPID))
	}
	patterns := o.shims()
	if len(patterns) == 0 {
		errs = append(errs, errors.New("--shim-comm is empty: the reaper must know the container shim to act only inside containers"))
	}
	for _, p := range patterns {
		if _, err := pathMatch(p); err != nil {
			errs = append(errs, fmt.Errorf("--shim-comm pattern %q: %v", p, err))
		}
	}
	return errors.Join(errs...)
}

func (o *options) shims() []string {
	var out []string
	for _, p := range strings.Split(o.shimComms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// reaper holds what lasts across passes.
type reaper struct {
	opts    options
	env     *job.Env
	table   proctable.Table
	book    *ageBook
	rules   rules
	metrics *metrics
	steps   []step
}

func run(ctx context.Context, env *job.Env, o options) error {
	table, err := proctable.Open(o.procRoot)
	if err != nil {
		return job.BadInput("--proc=%s: %w", o.procRoot, err)
	}
	if o.nodeName == "" {
		env.Log.Warn().Msg("--node-name is not set: zombies are not attributed to pods and Events are not recorded on the node")
	}
	r := newReaper(env, o, table)

	if o.metricsAddr != "" {
		l, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return job.BadInput("--metrics-addr=%s: %w", o.metricsAddr, err)
		}
		env.Log.Info().Str("addr", l.Addr().String()).Msg("serving /metrics and /healthz")
		stale := 3*o.interval + env.Common.Timeout
		go func() {
			if err := r.metrics.serve(ctx, l, time.Now(), stale); err != nil {
				env.Log.Error().Err(err).Msg("metrics server stopped")
			}
		}()
	}

	if o.once {
		if o.minAge > 0 {
			// A zombie's age is counted from when it is first seen: look,
			// wait --min-zombie-age, then do the pass.
			snap, err := table.Snapshot()
			if err != nil {
				return fmt.Errorf("first look at the process table (nothing was done): %w", err)
			}
			r.book.update(snap, env.Now())
			env.Log.Info().Dur("min_zombie_age", o.minAge).Msg("first look done; waiting --min-zombie-age before the pass")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.minAge):
			}
		}
		return r.pass(ctx)
	}

	wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if err := r.pass(ctx); err != nil {
			env.Log.Error().Err(err).Msg("pass failed; the next one tries again")
		}
	}, o.interval, o.jitter, true)
	return nil
}

func newReaper(env *job.Env, o options, table proctable.Table) *reaper {
	return &reaper{
		opts:  o,
		env:   env,
		table: table,
		book:  newAgeBook(),
		rules: rules{shimComms: o.shims(), minAge: o.minAge, minZombies: o.minZombies, withinPID: o.withinPID, self: os.Getpid()},
		steps: []step{
			{syscall.SIGCHLD, o.chldWait},
			{syscall.SIGTERM, o.termWait},
			{syscall.SIGKILL, o.killWait},
		},
		metrics: newMetrics(o.nodeName),
	}
}

// pass is one observe → plan → apply over the process table: read it,
// decide which parents to act on (plan), find the pods of those that count
// (observe), turn them into actions (decide), and escalate (apply).
func (r *reaper) pass(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, r.env.Common.Timeout, fmt.Errorf("--timeout %s reached", r.env.Common.Timeout))
	defer cancel()
	log := r.env.Log
	start := time.Now()

	snap, err := r.table.Snapshot()
	if err != nil {
		r.metrics.passes.WithLabelValues("error").Inc()
		return fmt.Errorf("read the process table (nothing was done): %w", err)
	}
	now := r.env.Now()
	r.book.update(snap, now)
	parents := plan(snap, r.book, now, r.rules)
	r.metrics.scan.Set(snap.Elapsed.Seconds())
	places := r.attributeAll(ctx, parents, log)
	d := decide(parents, places, r.opts.nodeName)
	r.metrics.record(d)
	log.Info().
		Int("processes", snap.Len()).
		Int("vanished", snap.Vanished).
		Dur("scan", snap.Elapsed).
		Int("zombies", d.zombies).
		Int("parents_act", d.parents["act"]).
		Int("parents_hold", d.parents["hold"]).
		Int("parents_ignored", d.parents["ignore"]).
		Msg("observed")
	for _, p := range d.ignored {
		log.Debug().Int("pid", p.proc.PID).Str("comm", p.proc.Comm).Int("zombies", len(p.zombies)).Str("reason", p.ignore).Msg("zombie parent left alone")
	}

	act := r.env.Actuator.Pass()
	esc := &escalator{table: r.table, steps: r.steps, poll: 100 * time.Millisecond,
		signalled: func(sig syscall.Signal) { r.metrics.signals.WithLabelValues(signalName(sig)).Inc() }}
	err = act.ApplyParallel(ctx, d.actions, func(ctx context.Context, a actuator.Action) error {
		return r.escalate(ctx, esc, a, log)
	}, r.opts.parallel)
	act.LogSummary(log, time.Since(start), err)
	r.metrics.passOK(time.Now())
	return err
}

func signalName(sig syscall.Signal) string { return unix.SignalName(sig) }

// pathMatch checks a glob pattern is well formed.
func pathMatch(pattern string) (bool, error) { return filepath.Match(pattern, "") }
