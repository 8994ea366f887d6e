package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/akash-janitor/akash-janitor/lib/job"
)

// metrics of the reaper, on /metrics. Every series carries the node, so a
// Prometheus that drops the pod's labels still tells the nodes apart.
type metrics struct {
	reg        *prometheus.Registry
	zombies    *prometheus.GaugeVec
	parents    *prometheus.GaugeVec
	signals    *prometheus.CounterVec
	reaped     prometheus.Counter
	escalation *prometheus.CounterVec
	passes     *prometheus.CounterVec
	scan       prometheus.Gauge
	lastPass   prometheus.Gauge

	mu     sync.Mutex
	lastOK time.Time
}

func newMetrics(node string) *metrics {
	const ns, sub = "akash_janitor", "zombie_reaper"
	c := prometheus.Labels{"node": node}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		zombies: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "zombies",
			Help: "Zombie processes on the node at the last pass, by the namespace of their parent's pod (\"\" outside pods).", ConstLabels: c},
			[]string{"namespace"}),
		parents: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "zombie_parents",
			Help: "Processes with zombie children at the last pass, by decision: act, hold (thresholds not met) or ignore (not in a container, the shim, PID 1).", ConstLabels: c},
			[]string{"decision"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "signals_total",
			Help: "Signals sent to zombie parents, by signal.", ConstLabels: c}, []string{"signal"}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reaped_total",
			Help: "Zombies gone after the reaper signalled their parent.", ConstLabels: c}),
		escalation: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "escalations_total",
			Help: "Escalations by result: reaped (on SIGCHLD), terminated, killed, gone (exited by itself), failed.", ConstLabels: c},
			[]string{"result"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "passes_total",
			Help: "Passes over the process table, by result (ok or error).", ConstLabels: c}, []string{"result"}),
		scan: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "scan_seconds",
			Help: "Time the last pass took to read the process table.", ConstLabels: c}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_pass_timestamp_seconds",
			Help: "When the last pass that read the process table finished.", ConstLabels: c}),
	}
	m.reg.MustRegister(m.zombies, m.parents, m.signals, m.reaped, m.escalation, m.passes, m.scan, m.lastPass,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// record sets a pass's gauges: zombies by namespace, parents by decision.
func (m *metrics) record(d decision) {
	m.zombies.Reset()
	for ns, n := range d.byNamespace {
		m.zombies.WithLabelValues(ns).Set(float64(n))
	}
	for k, n := range d.parents {
		m.parents.WithLabelValues(k).Set(float64(n))
	}
}

func (m *metrics) passOK(now time.Time) {
	m.mu.Lock()
	m.lastOK = now
	m.mu.Unlock()
	m.passes.WithLabelValues("ok").Inc()
	m.lastPass.Set(float64(now.Unix()))
}

// serve runs the metrics and health endpoint until ctx ends. /healthz is
// healthy while the last good pass is younger than stale (a reaper stuck in
// a pass, or unable to read /proc, is restarted by the kubelet).
func (m *metrics) serve(ctx context.Context, l net.Listener, started time.Time, stale time.Duration) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		last := m.lastOK
		m.mu.Unlock()
		since := last
		if since.IsZero() {
			since = started
		}
		if age := time.Since(since); age > stale {
			http.Error(w, fmt.Sprintf("no good pass for %s (limit %s)", age.Round(time.Second), stale), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return job.ServeHTTP(ctx, l, mux)
}
