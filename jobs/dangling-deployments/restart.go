package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
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

const verbRestart = "restart-provider"

// restarter holds what the restart needs: where the provider's status is,
// its pod, and the cool-down record.
type restarter struct {
	mode     string
	status   *providerstatus.Reader // nil: not read
	pod      actuator.Ref
	record   *cooldown.Record // nil with mode never
	provider string
}

func (o *options) restarter(env *job.Env) (*restarter, error) {
	r := &restarter{mode: o.restart, provider: o.provider}
	if o.statusURL != "" {
		s, err := providerstatus.NewReader(o.statusURL, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("--provider-status-url: %w", err)
		}
		r.status = s
	}
	ns, name, err := kube.SplitNamespaced(o.restartPod)
	if err != nil {
		return nil, fmt.Errorf("--restart-pod=%q: %v", o.restartPod, err)
	}
	r.pod = actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}
	if o.restart == restartWhenLeaked {
		rns, rname, err := kube.SplitNamespaced(o.restartRecord)
		if err != nil {
			return nil, fmt.Errorf("--restart-record-configmap=%q: %v", o.restartRecord, err)
		}
		r.record = &cooldown.Record{Client: env.Clients.Kube, Namespace: rns, Name: rname, Period: o.restartCooldown,
			Flag: "--restart-cooldown", Job: "dangling-deployments", Now: env.Now}
	}
	return r, nil
}

// observe reads the provider's status and the last restart into obs. A
// status that cannot be read, or is another provider's, is kept as an
// error: the run goes on without it.
func (r *restarter) observe(ctx context.Context, obs *observed, provider string) {
	obs.statusErr = errNoStatusURL
	if r.status != nil {
		obs.status, obs.statusErr = r.read(ctx)
	}
	if r.record != nil {
		obs.lastRestart, obs.recordErr = r.record.Last(ctx)
	}
}

var errNoStatusURL = errors.New("no --provider-status-url")

// read reads the status and checks it is this provider's.
func (r *restarter) read(ctx context.Context) (providerstatus.Status, error) {
	s, err := r.status.Read(ctx)
	if err != nil {
		return s, err
	}
	if s.Address != "" && s.Address != r.provider {
		return s, fmt.Errorf("the status at %s is provider %s's, not --provider %s's", r.status.URL, s.Address, r.provider)
	}
	return s, nil
}

// restartInput is what the restart is decided on.
type restartInput struct {
	mode      string
	status    providerstatus.Status
	statusErr error
	// manifests is how many Manifests of the provider the cluster holds
	// after this run's teardowns; tornDown how many leases those were.
	manifests, tornDown int
	lastRestart         *cooldown.Taken
	record              *cooldown.Record
	pod                 actuator.Ref
	now                 time.Time
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

// planRestart decides the provider's restart: when its status counts more
// leases than the cluster holds Manifests, or, when the status cannot be
// read, when this run tore leases down (the provider keeps their
// capacity either way). It returns the action, or a finding when the
// restart is turned off, or neither.
func planRestart(in restartInput) (*actuator.Action, *finding) {
	stale, known := in.stale()
	a := actuator.Action{Verb: verbRestart, Target: in.pod, Reason: "ProviderHoldsEndedLeases",
		OwnLimit: "at most one a run and one per --restart-cooldown", Payload: restartPlan{byStatus: known}}
	hand := fmt.Sprintf("kubectl -n %s delete pod %s", in.pod.Namespace, in.pod.Name)
	switch {
	case known && stale == 0:
		return nil, nil
	case known:
		a.Message = fmt.Sprintf("the provider counts %s (%d reservations: %d active, %d pending) but the cluster holds %d Manifests: "+
			"it keeps the capacity of %s that are gone (ended on chain and torn down) until it restarts; deleting its pod so it starts again "+
			"from the Manifests (running workloads are not touched)", leases(in.status.Leases), in.status.Reservations(), in.status.Active, in.status.Pending,
			in.manifests, leases(stale))
	case in.tornDown > 0:
		a.Reason = "ProviderMissedTeardowns"
		a.Message = fmt.Sprintf("this run tore down %s the provider did not, and it keeps their capacity until it restarts "+
			"(its status cannot be read: %v); deleting its pod so it starts again from the Manifests (running workloads are not touched)", leases(in.tornDown), in.statusErr)
	default:
		return nil, nil
	}
	if in.mode == restartNever {
		return nil, &finding{reason: "ProviderHoldsEndedLeases", msg: a.Message + "; --restart-provider=never: restart it by hand (" + hand + ")"}
	}
	if in.record != nil {
		a.Hold = in.record.Held(in.lastRestart, in.now)
	}
	return &a, nil
}

// leases says n leases, or 1 lease.
func leases(n int) string {
	if n == 1 {
		return "1 lease"
	}
	return fmt.Sprintf("%d leases", n)
}

// restartPlan is the restart action's payload: whether the status
// decided it (and so is read again just before).
type restartPlan struct{ byStatus bool }

// apply plans the restart from what the run did and carries it out, and
// reports the provider's figures.
func (r *restarter) apply(ctx context.Context, env *job.Env, obs observed, o *options, tornDown, manifests int, reported *prometheus.GaugeVec) error {
	in := restartInput{mode: r.mode, status: obs.status, statusErr: obs.statusErr, manifests: manifests, tornDown: tornDown,
		lastRestart: obs.lastRestart, record: r.record, pod: r.pod, now: env.Now()}
	m := newProviderMetrics(env.Metrics)
	m.report(in, len(obs.chain.live))
	switch {
	case errors.Is(obs.statusErr, errNoStatusURL):
	case obs.statusErr != nil:
		env.Log.Warn().Err(obs.statusErr).Msg("the provider's status cannot be read: a restart follows only this run's teardowns")
	case !obs.status.InventoryReady:
		env.Log.Info().Int("provider_leases", obs.status.Leases).Msg("the provider's inventory is not ready yet (it has just started): its counts are not final, no restart is decided on them")
	default:
		stale, _ := in.stale()
		env.Log.Info().Int("provider_leases", obs.status.Leases).Int("provider_reservations_active", obs.status.Active).
			Int("provider_reservations_pending", obs.status.Pending).Int("cluster_manifests", manifests).Int("chain_live_leases", len(obs.chain.live)).
			Int("stale", stale).Msg("provider status")
	}
	a, f := planRestart(in)
	if f != nil {
		reported.WithLabelValues(f.reason).Inc()
		env.Log.Warn().Str("reason", f.reason).Msg(f.msg)
	}
	if a == nil {
		return nil
	}
	if obs.recordErr != nil {
		env.Log.Warn().Err(obs.recordErr).Msg("the restart's cool-down record cannot be read: the restart will not be done")
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
		cs, err := observeCluster(ctx, env, r.provider)
		if err != nil {
			return fmt.Errorf("count the Manifests again just before restarting (nothing done): %w", err)
		}
		if m := cs.manifests(); s.Leases <= m {
			return actuator.Skip("on a second look just before restarting, the provider counts %d leases and the cluster holds %d Manifests: nothing to give back", s.Leases, m)
		}
	}
	pods := env.Clients.Kube.CoreV1().Pods(r.pod.Namespace)
	pod, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("pod %s/%s is not there: nothing to restart (--restart-pod)", r.pod.Namespace, r.pod.Name)
	case err != nil:
		return fmt.Errorf("read pod %s/%s (nothing done): %w", r.pod.Namespace, r.pod.Name, err)
	case pod.DeletionTimestamp != nil:
		return actuator.Skip("pod %s/%s is being deleted already", r.pod.Namespace, r.pod.Name)
	}
	if owner := metav1.GetControllerOf(pod); owner == nil {
		return fmt.Errorf("pod %s/%s has no controller to start it again: deleting it would stop the provider for good; restart it by hand", r.pod.Namespace, r.pod.Name)
	}
	if held, err := r.record.Take(ctx, fmt.Sprintf("restart %s/%s (%s)", r.pod.Namespace, r.pod.Name, a.Reason)); err != nil {
		return err
	} else if held != "" {
		return actuator.Skip("%s", held)
	}
	uid := pod.UID
	err = pods.Delete(ctx, r.pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case apierrors.IsNotFound(err):
		return actuator.Skip("pod %s/%s went away meanwhile", r.pod.Namespace, r.pod.Name)
	case apierrors.IsConflict(err):
		return actuator.Skip("pod %s/%s was replaced meanwhile", r.pod.Namespace, r.pod.Name)
	case err != nil:
		return fmt.Errorf("delete pod %s/%s: %w", r.pod.Namespace, r.pod.Name, err)
	}
	return nil
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
