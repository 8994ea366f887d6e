package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// metrics are what a run pushes: the provider's open bids, those past the
// age and the deposits they hold, and the deposits its closes gave back.
type metrics struct {
	reg   prometheus.Registerer
	open  prometheus.Gauge
	stale prometheus.Gauge
	held  *prometheus.GaugeVec
	given *prometheus.GaugeVec

	placed, newestAge, ordersOpen, ordersNew, leasesActive prometheus.Gauge

	completionRate, leasesInWindow, leasesTerminated prometheus.Gauge
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
	m.placed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_bids_placed_recent",
		Help: "Bids the provider placed within --activity-window (any state now), by the chain's clock."})
	m.newestAge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_bids_newest_age_seconds",
		Help: "How long ago the provider placed its newest bid, by the chain's clock (not pushed when it has none)."})
	m.ordersOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_orders_open",
		Help: "Orders open on chain, every tenant's."})
	m.ordersNew = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_orders_opened_recent",
		Help: "Orders open on chain that were opened within --activity-window."})
	m.leasesActive = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_leases_active",
		Help: "The provider's active leases on chain."})
	m.completionRate = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_lease_completion_rate",
		Help: "The provider's lease completion rate over --completion-window, 0 to 1: (leases - those it closed) / leases, as AEP-86 (draft) counts it."})
	m.leasesInWindow = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_leases_in_completion_window",
		Help: "The provider's leases live at any time in --completion-window: the live ones and those that ended in it."})
	m.leasesTerminated = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_leases_terminated_by_provider",
		Help: "Leases the provider closed within --completion-window (close reasons 10000-19999)."})
	if reg != nil {
		reg.MustRegister(m.open, m.stale, m.held, m.given)
	}
	m.reg = reg
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

// bidding sets the activity figures; they are registered only when read,
// so a run that could not read them pushes none rather than zeros.
func (m *metrics) bidding(a *activity, clock chain.Clock) {
	if m.reg != nil {
		m.reg.MustRegister(m.placed, m.ordersOpen, m.ordersNew, m.leasesActive)
	}
	if m.reg != nil {
		m.reg.MustRegister(m.completionRate, m.leasesInWindow, m.leasesTerminated)
	}
	m.completionRate.Set(a.completion.Rate())
	m.leasesInWindow.Set(float64(a.completion.Total))
	m.leasesTerminated.Set(float64(a.completion.Terminated))
	m.placed.Set(float64(a.bidsRecent))
	m.ordersOpen.Set(float64(a.ordersOpen))
	m.ordersNew.Set(float64(a.ordersNew))
	m.leasesActive.Set(float64(a.leasesActive))
	if a.newestBid > 0 {
		if m.reg != nil {
			m.reg.MustRegister(m.newestAge)
		}
		m.newestAge.Set(clock.Age(a.newestBid).Seconds())
	}
}

func (m *metrics) recovered(c chain.Coin) {
	m.given.WithLabelValues(c.Denom).Add(amount(c))
}

func amount(c chain.Coin) float64 {
	f, _ := strconv.ParseFloat(c.Amount, 64)
	return f
}
