package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
	"github.com/akash-janitor/akash-janitor/lib/pricing/dropin"
)

// server prices orders over HTTP with the configuration of one ConfigMap,
// reloaded whenever the ConfigMap changes.
type server struct {
	log     zerolog.Logger
	cfg     atomic.Pointer[pricing.Config]
	metrics *serverMetrics
	// loaded is signalled on every configuration loaded: the GPU coverage
	// audit runs again with the new mappings.
	loaded chan struct{}
}

type serverMetrics struct {
	reg       *prometheus.Registry
	quotes    *prometheus.CounterVec
	gpuQuotes *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	aktPrice  prometheus.Gauge
	aktAge    prometheus.Gauge
	reloads   *prometheus.CounterVec
	unmapped  *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
}

func newServerMetrics() *serverMetrics {
	const ns, sub = "akash_janitor", "bid_price"
	m := &serverMetrics{
		reg: prometheus.NewRegistry(),
		quotes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "quotes_total",
			Help: "Orders answered, by denom and result (priced, refused)."}, []string{"denom", "result"}),
		gpuQuotes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "gpu_quotes_total",
			Help: "GPU resource groups priced, by the mapping key that priced them (\"fallback\" when none did)."}, []string{"mapping"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refusals_total",
			Help: "Orders refused, by reason: too_low, unsupported_denom, no_akt_price, bad_order."}, []string{"reason"}),
		aktPrice: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "akt_price_usd",
			Help: "The AKT price in USD used for the last uakt quote."}),
		aktAge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "akt_price_age_seconds",
			Help: "Age of that AKT price when it was used (grows while every source fails)."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "config_reloads_total",
			Help: "Configuration loads from the ConfigMap, by result (ok, error: the previous one is kept)."}, []string{"result"}),
		unmapped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "gpu_unmapped",
			Help: "GPU keys on the provider's nodes that no mapping prices (priced at the fallback), with the number of nodes."}, []string{"key"}),
		// The provider gives its price script a few seconds: the buckets
		// are around that.
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help:    "Time to answer a price request, by HTTP status code.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}}, []string{"code"}),
	}
	m.reg.MustRegister(m.quotes, m.gpuQuotes, m.refusals, m.aktPrice, m.aktAge, m.reloads, m.unmapped, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchConfig loads the ConfigMap and reloads it on every change, until ctx
// ends. A ConfigMap that does not parse is logged and counted, and the
// previous configuration stays.
func (s *server) watchConfig(ctx context.Context, client kubernetes.Interface, namespace, name string) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	informer := factory.Core().V1().ConfigMaps().Informer()
	load := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return
		}
		cfg, err := pricing.LoadConfig(func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok }, false)
		if err != nil {
			s.metrics.reloads.WithLabelValues("error").Inc()
			s.log.Error().Err(err).Str("configmap", namespace+"/"+name).Str("resource_version", cm.ResourceVersion).
				Msg("the pricing configuration does not load; the previous one stays")
			return
		}
		cfg.Oracle.Log = s.log
		if old := s.cfg.Load(); old != nil {
			// Keep the AKT price already known across a reload.
			cfg.Oracle = old.Oracle.Rebuilt(cfg.Oracle)
		}
		s.cfg.Store(cfg)
		select {
		case s.loaded <- struct{}{}:
		default: // an audit is already due
		}
		s.metrics.reloads.WithLabelValues("ok").Inc()
		s.log.Info().Str("configmap", namespace+"/"+name).Str("resource_version", cm.ResourceVersion).
			Interface("config", cfg.Describe).Msg("pricing configuration loaded")
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) {
			s.log.Warn().Str("configmap", namespace+"/"+name).Msg("the pricing ConfigMap was deleted; the last configuration stays")
		},
	})
	informer.Run(ctx.Done())
}

// audit lists the nodes' GPUs and records those no mapping prices.
func (s *server) audit(ctx context.Context, clients *kube.Clients) error {
	cfg := s.cfg.Load()
	if cfg == nil {
		return errors.New("no configuration yet")
	}
	unmapped, err := unmappedGPUs(ctx, clients, cfg.Targets)
	if err != nil {
		return err
	}
	s.metrics.unmapped.Reset()
	for _, u := range unmapped {
		s.metrics.unmapped.WithLabelValues(u.Key).Set(float64(len(u.Nodes)))
		s.log.Warn().Str("gpu", u.Key).Strs("nodes", u.Nodes).Str("fallback_usd", u.Fallback.String()).
			Msg("GPU without a price mapping: its orders are bid at the fallback price")
	}
	return nil
}

func unmappedGPUs(ctx context.Context, clients *kube.Clients, targets pricing.Targets) ([]pricing.Unmapped, error) {
	gpus, err := observe(ctx, clients)
	if err != nil {
		return nil, err
	}
	return plan(targets, gpus), nil
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/price", promhttp.InstrumentHandlerDuration(s.metrics.duration, http.HandlerFunc(s.price)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.cfg.Load() == nil {
			http.Error(w, "no pricing configuration loaded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// price answers one order: 200 and the price, 422 and the reason for a
// refusal, 400 for an order that does not parse, 503 before a configuration.
func (s *server) price(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	if cfg == nil {
		http.Error(w, "no pricing configuration loaded yet", http.StatusServiceUnavailable)
		return
	}
	owner := r.Header.Get("X-Akash-Owner")
	if owner == "" {
		owner = r.URL.Query().Get("owner")
	}
	log := s.log.With().Str("owner", owner).Logger()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.refuse(w, log, "bad_order", http.StatusBadRequest, "", "read the order: "+err.Error())
		return
	}
	order, err := pricing.ParseOrder(body)
	if err != nil {
		s.refuse(w, log, "bad_order", http.StatusBadRequest, "", err.Error())
		return
	}
	denom := pricing.DenomAKT
	if order.Price != nil {
		denom = order.Price.Denom
	}
	var akt pricing.Dec
	if dropin.NeedsAKT(order) {
		p, err := cfg.Oracle.Price(r.Context())
		if err != nil {
			log.Warn().Err(err).Msg("AKT price sources failed")
		}
		if p.USD.Valid() {
			akt = p.USD
			s.metrics.aktPrice.Set(p.USD.Float64())
			s.metrics.aktAge.Set(time.Since(p.Fetched).Seconds())
		}
	}
	q, err := cfg.Targets.Quote(order, akt)
	for _, g := range q.GPUs {
		s.metrics.gpuQuotes.WithLabelValues(cmp.Or(g.Matched, "fallback")).Inc()
	}
	var refusal *pricing.Refusal
	if err != nil && !errors.As(err, &refusal) {
		log.Error().Err(err).Msg("the price could not be computed")
		http.Error(w, "the price could not be computed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err != nil {
		reason := "too_low"
		switch {
		case !akt.Valid() && dropin.NeedsAKT(order):
			reason = "no_akt_price"
		case !isKnownDenom(denom):
			reason = "unsupported_denom"
		}
		s.metrics.quotes.WithLabelValues(metricDenom(denom), "refused").Inc()
		s.refuse(w, log, reason, http.StatusUnprocessableEntity, denom, err.Error())
		return
	}
	s.metrics.quotes.WithLabelValues(metricDenom(denom), "priced").Inc()
	log.Info().Str("denom", denom).Str("price", q.Amount).Str("usd_month", q.USDPerMonth.Format(6)).Msg("priced")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, q.Amount)
}

func (s *server) refuse(w http.ResponseWriter, log zerolog.Logger, reason string, status int, denom, msg string) {
	s.metrics.refusals.WithLabelValues(reason).Inc()
	log.Info().Str("reason", reason).Str("denom", denom).Msg(msg)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, msg)
}

func isKnownDenom(d string) bool {
	switch d {
	case pricing.DenomAKT, pricing.DenomACT, pricing.DenomUSDCMainnet, pricing.DenomUSDCSandbox:
		return true
	}
	return false
}

// metricDenom bounds the denom label: tenants choose denoms.
func metricDenom(d string) string {
	if isKnownDenom(d) {
		return d
	}
	return "other"
}
