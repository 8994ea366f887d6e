package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// The chart's alerts and dashboard use only the metrics each run pushes.
func TestTheChartUsesTheMetricsPushed(t *testing.T) {
	charttest.RequireEmitted(t, "akash_janitor_dangling_deployments_", reportedGauge())
	m := newProviderMetrics(prometheus.NewRegistry())
	charttest.RequireEmitted(t, "akash_janitor_provider_", m.leases, m.reservations, m.stale, m.up, m.restarted)
}
