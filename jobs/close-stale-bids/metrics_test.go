package main

import (
	"testing"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// The chart's alerts and dashboard use only the metrics each run pushes.
func TestTheChartUsesTheMetricsPushed(t *testing.T) {
	m := newMetrics(nil)
	for _, prefix := range []string{"akash_janitor_bids_", "akash_janitor_orders_", "akash_janitor_leases_", "akash_janitor_lease_completion"} {
		charttest.RequireEmitted(t, prefix, m.open, m.stale, m.held, m.given, m.placed, m.newestAge, m.ordersOpen, m.ordersNew, m.leasesActive,
			m.completionRate, m.leasesInWindow, m.leasesTerminated)
	}
}
