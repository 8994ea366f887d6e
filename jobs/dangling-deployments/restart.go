package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus"
)

// The provider keeps a deployment manager and an inventory reservation for
// every lease it deployed until it tears the lease down itself, and
// rebuilds both from the Manifest CRs only when it starts (provider
// cluster/service.go run and findDeployments, cluster/inventory.go). A
// lease torn down by anyone else (this job, an operator) keeps its
// capacity reserved and unbid until the provider restarts; the runbook's
// remedy is to delete the provider's pod, which its StatefulSet starts
// again without touching running workloads. This file plans and carries
// out that restart.

const verbRestart = providerrestart.Verb

// restarter holds what the restart needs: where the provider's status is,
// and the provider's restarter (its pod, the cool-down record).
type restarter struct {
	mode       string
	status     *providerstatus.Reader // nil: not read
	restarts   *providerrestart.Restarter
	record     *cooldown.Record // nil with mode never
	pod        actuator.Ref
	provider   string
	manifestNS string
}

func (o *options) restarter(env *job.Env) (*restarter, error) {
	r := &restarter{mode: o.restart, provider: o.provider, manifestNS: o.manifestNS}
	if o.statusURL != "" {
		s, err := providerstatus.NewReader(o.statusURL, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("--provider-status-url: %w", err)
		}
		r.status = s
	}
	var err error
	if r.restarts, err = o.restartFlags.New(env.Clients.Kube, "dangling-deployments", env.Now); err != nil {
		return nil, err
	}
	r.pod = r.restarts.Pod
	if o.restart == restartWhenLeaked {
		r.record = r.restarts.Record
	}
	return r, nil
}

// observe reads the provider's status and the restart's record (the last
// restart, and what an earlier run saw of the provider's gap) into obs. A
// status that cannot be read, or is another provider's, is kept as an
// error: the run goes on without it.
func (r *restarter) observe(ctx context.Context, obs *observed, provider string) {
	obs.statusErr = errNoStatusURL
	if r.status != nil {
		obs.status, obs.statusErr = r.read(ctx)
	}
	if r.record == nil {
		return
	}
	var notes map[string]string
	obs.lastRestart, notes, obs.recordErr = r.record.Read(ctx)
	if raw := notes[gapNote]; raw != "" && obs.recordErr == nil {
		var g gapSeen
		if err := json.Unmarshal([]byte(raw), &g); err != nil || g.At.IsZero() {
			obs.recordErr = fmt.Errorf("%w %s/%s: note %q is not what this job writes (%s); delete the key to start again",
				cooldown.ErrRecord, r.record.Namespace, r.record.Name, gapNote, raw)
			return
		}
		obs.gap = &g
	}
}

var errNoStatusURL = errors.New("no --provider-status-url")

// read reads the status and checks it is this provider's: the provider's
// gateway always names it (gateway/rest/router.go).
func (r *restarter) read(ctx context.Context) (providerstatus.Status, error) {
	s, err := r.status.Read(ctx)
	switch {
	case err != nil:
		return s, err
	case s.Address == "":
		return s, fmt.Errorf("the status at %s names no provider: not an akash-provider's answer", r.status.URL)
	case s.Address != r.provider:
		return s, fmt.Errorf("the status at %s is provider %s's, not --provider %s's", r.status.URL, s.Address, r.provider)
	}
	return s, nil
}

// gapNote is the note, beside the last restart, of what the last run that
// read the status saw of the provider's gap.
const gapNote = "gap"

// gapSeen is that note.
type gapSeen struct {
	At    time.Time `json:"at"`
	Stale int       `json:"stale"`
	// Ineffective: a restart did not close the gap; no restart until it
	// closes once.
	Ineffective bool `json:"ineffective,omitempty"`
}

// restartInput is what the restart is decided on.
type restartInput struct {
	mode      string
	status    providerstatus.Status
	statusErr error
	// manifests is how many Manifests of the provider the cluster holds
	// after this run's teardowns; manifestsGone how many those removed
	// (or would, in a dry run or a pause); teardownsLeft how many ended
	// leases the run's budget left for the next runs.
	manifests, manifestsGone, teardownsLeft int
	lastRestart                             *cooldown.Taken
	gap                                     *gapSeen
	record                                  *cooldown.Record
	recordErr                               error
	pod                                     actuator.Ref
	now                                     time.Time
}

// stale is how many leases the provider holds beyond the Manifests it
// would rebuild them from: what a restart gives back. known is false
// when the status could not be read or is not final.
func (in restartInput) stale() (n int, known bool) {
	if in.statusErr != nil || !in.status.InventoryReady {
		return 0, false
	}
	return max(in.status.Leases-in.manifests, 0), true
}

// unknownWhy says why the status tells nothing.
func (in restartInput) unknownWhy() string {
	if in.statusErr != nil {
		return "its status cannot be read: " + in.statusErr.Error()
	}
	return "its inventory is not ready yet (it has just started), so its counts are not final"
}

// planRestart decides the provider's restart, and what to note of its gap
// for the next run.
//
// With its status: the provider holds more leases than the cluster has
// Manifests. A gap this run's teardowns made is certain, and restarted at
// once; a gap that was there before them is restarted only when an
// earlier run saw one too (a deploy in flight or the provider's own
// teardown shows one for a moment). When the first look after a restart
// still finds a gap it did not make, the restart did not help: no other
// until the gap closes once (the alert stays). Without a status: when
// this run removed Manifests the provider held. Either way it waits for
// the ended leases the budget left to the next runs, so one restart gives
// all their capacity back, and for the cool-down.
//
// It returns the action (nil: none), or a finding with the restart turned
// off, and the note to keep (keep false: leave the note as it is).
func planRestart(in restartInput) (a *actuator.Action, f *finding, note *gapSeen, keep bool) {
	stale, known := in.stale()
	act := actuator.Action{Verb: verbRestart, Target: in.pod, Reason: "ProviderHoldsEndedLeases",
		OwnLimit: "at most one a run and one per --restart-cooldown", Payload: restartPlan{byStatus: known}} // as providerrestart.Restarter.Action
	var hold string
	if known {
		keep = true
		if stale == 0 {
			return nil, nil, nil, true
		}
		before := max(stale-in.manifestsGone, 0) // the gap this run did not make
		note = &gapSeen{At: in.now.UTC(), Stale: stale}
		firstSinceRestart := in.lastRestart != nil && (in.gap == nil || in.gap.At.Before(in.lastRestart.At))
		note.Ineffective = before > 0 && ((in.gap != nil && in.gap.Ineffective) || firstSinceRestart)
		act.Message = fmt.Sprintf("the provider counts %s (%d reservations: %d active, %d pending) but the cluster holds %d Manifests: "+
			"it keeps the capacity of %s no longer here (ended on chain and torn down) until it restarts; deleting its pod so it starts again "+
			"from the Manifests (running workloads are not touched)", leases(in.status.Leases), in.status.Reservations(), in.status.Active, in.status.Pending,
			in.manifests, leases(stale))
		switch {
		case note.Ineffective:
			at := in.lastRestart
			when := "an earlier restart"
			if at != nil {
				when = "the restart at " + at.At.UTC().Format(time.RFC3339)
			}
			hold = fmt.Sprintf("%s did not give it back: the provider still holds %s the cluster has no Manifest of (Manifests being deleted, "+
				"or with labels this job cannot read?); not restarted again until the gap closes once: look, and restart it by hand if need be",
				when, leases(before))
		case before > 0 && (in.gap == nil || in.gap.Stale == 0):
			hold = fmt.Sprintf("a gap of %s first seen now: a run confirms it before the provider is restarted "+
				"(a deploy in flight, or the provider's own teardown, shows one for a moment)", leases(before))
		}
	} else {
		if in.manifestsGone == 0 {
			return nil, nil, nil, false
		}
		act.Reason = "ProviderMissedTeardowns"
		act.Message = fmt.Sprintf("this run removed the Manifests of %s the provider held, and it keeps their capacity until it restarts "+
			"(%s); deleting its pod so it starts again from the Manifests (running workloads are not touched)", leases(in.manifestsGone), in.unknownWhy())
	}
	if in.mode == restartNever {
		return nil, &finding{reason: act.Reason, msg: act.Message + fmt.Sprintf("; --restart-provider=never: restart it by hand (kubectl -n %s delete pod %s)",
			in.pod.Namespace, in.pod.Name)}, note, keep
	}
	switch {
	case hold != "":
	case in.teardownsLeft > 0:
		hold = fmt.Sprintf("%s ended on chain are left for the next runs (--max-actions): the provider is restarted once they are torn down, "+
			"so that one restart gives all their capacity back", leases(in.teardownsLeft))
	case in.recordErr != nil:
		hold = "the restart's record cannot be used, so the provider is not restarted: " + in.recordErr.Error()
	case in.record != nil:
		hold = in.record.Held(in.lastRestart, in.now)
	}
	act.Hold = hold
	return &act, nil, note, keep
}

// restartPlan is the restart action's payload: whether the status
// decided it (and so is read again just before).
type restartPlan struct{ byStatus bool }

// leases says n leases, or 1 lease.
func leases(n int) string {
	if n == 1 {
		return "1 lease"
	}
	return fmt.Sprintf("%d leases", n)
}

// apply plans the restart from what the run did, keeps its note, carries
// it out, and reports the provider's figures.
func (r *restarter) apply(ctx context.Context, env *job.Env, obs observed, in restartInput, reported *prometheus.GaugeVec) error {
	in.mode, in.status, in.statusErr = r.mode, obs.status, obs.statusErr
	in.lastRestart, in.gap, in.record, in.recordErr = obs.lastRestart, obs.gap, r.record, obs.recordErr
	in.pod, in.now = r.pod, env.Now()
	m := newProviderMetrics(env.Metrics)
	m.report(in, len(obs.chain.live))
	stale, known := in.stale()
	switch {
	case errors.Is(obs.statusErr, errNoStatusURL):
	case !known:
		env.Log.Warn().Msg("the provider's " + strings.TrimPrefix(in.unknownWhy(), "its ") + ": a restart follows only this run's teardowns")
	default:
		env.Log.Info().Int("provider_leases", obs.status.Leases).Int("provider_reservations_active", obs.status.Active).
			Int("provider_reservations_pending", obs.status.Pending).Int("cluster_manifests", in.manifests).Int("chain_live_leases", len(obs.chain.live)).
			Int("stale", stale).Msg("provider status")
	}
	a, f, note, keep := planRestart(in)
	if f != nil {
		reported.WithLabelValues(f.reason).Inc()
		env.Log.Warn().Str("reason", f.reason).Msg(f.msg)
	}
	// The note is an observation, kept for the next run; a dry run or a
	// paused one changes nothing, so it keeps none.
	if keep && r.record != nil && obs.recordErr == nil && env.Actuator.Acting() {
		raw := ""
		if note != nil {
			b, _ := json.Marshal(note)
			raw = string(b)
		}
		if err := r.record.Note(ctx, gapNote, raw); err != nil {
			env.Log.Warn().Err(err).Msg("what this run saw of the provider's gap is not kept: the next run cannot confirm it")
		}
	}
	if a == nil {
		return nil
	}
	done := false
	err := env.Actuator.Apply(ctx, []actuator.Action{*a}, func(ctx context.Context, act actuator.Action) error {
		err := r.restart(ctx, env, act)
		done = err == nil
		return err
	})
	if done {
		m.restarted.Set(1)
	}
	if obs.recordErr != nil {
		return errors.Join(err, obs.recordErr)
	}
	return err
}

// restart deletes the provider's pod, after a last look: with the status
// deciding, the provider must still hold more leases than the cluster has
// Manifests; the pod must be one a controller starts again; the cool-down
// must allow it, and is taken.
func (r *restarter) restart(ctx context.Context, env *job.Env, a actuator.Action) error {
	p, err := actuator.PayloadOf[restartPlan](a)
	if err != nil {
		return err
	}
	if p.byStatus {
		s, err := r.read(ctx)
		if err != nil {
			return actuator.Skip("the provider's status cannot be read on a second look just before restarting: %v", err)
		}
		cs, err := observeCluster(ctx, env, r.provider, r.manifestNS)
		if err != nil {
			return fmt.Errorf("count the Manifests again just before restarting (nothing done): %w", err)
		}
		if m := cs.manifests(); s.Leases <= m {
			return actuator.Skip("on a second look just before restarting, the provider counts %d leases and the cluster holds %d Manifests: nothing to give back", s.Leases, m)
		}
	}
	return r.restarts.Restart(ctx, a.Reason)
}

// providerMetrics are the provider's figures a run pushes.
type providerMetrics struct {
	leases       *prometheus.GaugeVec
	reservations *prometheus.GaugeVec
	// stale and up have no labels; vectors, so that a run that did not
	// read the status pushes no stale figure rather than a zero.
	stale     *prometheus.GaugeVec
	up        prometheus.Gauge
	restarted prometheus.Gauge
}

func newProviderMetrics(reg prometheus.Registerer) *providerMetrics {
	m := &providerMetrics{
		leases: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_provider_leases",
			Help: "Leases by who counts them: provider (its /status, the deployment managers it holds), cluster (the Manifests it would rebuild them from, after the run's teardowns), chain (live on chain: active and reclaiming)."},
			[]string{"source"}),
		reservations: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_provider_reservations",
			Help: "The provider's inventory reservations (its /status), by state: active (deployed and healthy) and pending."},
			[]string{"state"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_provider_stale_leases",
			Help: "Leases the provider still holds the capacity of although the cluster no longer has them: what a restart gives back. Not pushed when its status was not read."}, nil),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_provider_status_up",
			Help: "1 when the provider's /status was read and final, 0 when not."}),
		restarted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_provider_restarted",
			Help: "1 when the run restarted the provider, else 0."}),
	}
	reg.MustRegister(m.leases, m.reservations, m.stale, m.up, m.restarted)
	return m
}

// report sets the figures; a status not read leaves the provider's own
// out rather than at zero.
func (m *providerMetrics) report(in restartInput, chainLive int) {
	m.leases.WithLabelValues("chain").Set(float64(chainLive))
	m.leases.WithLabelValues("cluster").Set(float64(in.manifests))
	m.restarted.Set(0)
	stale, known := in.stale()
	if !known {
		m.up.Set(0)
		return
	}
	m.up.Set(1)
	m.leases.WithLabelValues("provider").Set(float64(in.status.Leases))
	m.reservations.WithLabelValues("active").Set(float64(in.status.Active))
	m.reservations.WithLabelValues("pending").Set(float64(in.status.Pending))
	m.stale.WithLabelValues().Set(float64(stale))
}
