package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// metrics are what a run pushes: the provider's open bids, those past the
// age and the deposits they hold, and the deposits its closes gave back.
type metrics struct {
	open  prometheus.Gauge
	stale prometheus.Gauge
	held  *prometheus.GaugeVec
	given *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_bids_open",
			Help: "The provider's open bids on chain, as the run listed them."}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_bids_stale",
			Help: "Open bids older than --max-bid-age, as the run listed them."}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_bids_stale_deposits",
			Help: "Deposits the stale open bids held when the run listed them, by denom (in its units: uakt, uact)."}, []string{"denom"}),
		given: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_bids_deposits_recovered",
			Help: "Deposits the run's bid closes gave back to the provider, by denom (in its units)."}, []string{"denom"}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.stale, m.held, m.given)
	}
	return m
}

func (m *metrics) observed(p planned) {
	m.open.Set(float64(p.open))
	m.stale.Set(float64(len(p.closes)))
	for _, c := range p.held {
		m.held.WithLabelValues(c.Denom).Set(amount(c))
	}
	if len(p.held) == 0 {
		m.held.WithLabelValues("uakt").Set(0)
	}
}

func (m *metrics) recovered(c chain.Coin) {
	m.given.WithLabelValues(c.Denom).Add(amount(c))
}

func amount(c chain.Coin) float64 {
	f, _ := strconv.ParseFloat(c.Amount, 64)
	return f
}
