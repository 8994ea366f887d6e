package main

import (
	"testing"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// The chart's alerts and dashboard use only the metrics each run pushes.
func TestTheChartUsesTheMetricsPushed(t *testing.T) {
	charttest.RequireEmitted(t, "akash_janitor_doctor_", findingsGauge())
}
