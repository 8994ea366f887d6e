package job

import (
	"testing"
	"time"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// The chart's alerts and dashboard use only the run metrics a run pushes.
func TestTheChartUsesTheRunMetricsPushed(t *testing.T) {
	charttest.RequireEmitted(t, "akash_janitor_run_", summaryRegistry(actuator.Summary{}, time.Second, nil, time.Now()))
}
