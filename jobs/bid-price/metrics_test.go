package main

import (
	"testing"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// The chart's alerts and dashboard use only metrics bid-price serves.
func TestTheChartUsesTheMetricsServed(t *testing.T) {
	charttest.RequireEmitted(t, "akash_janitor_bid_price_", newServerMetrics().reg)
}
