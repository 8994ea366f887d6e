package main

import (
	"testing"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// The chart's alerts and dashboard use only metrics the reaper serves.
func TestTheChartUsesTheMetricsServed(t *testing.T) {
	charttest.RequireEmitted(t, "akash_janitor_zombie_reaper_", newMetrics("node-a").reg)
}
