package job

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// pushSummary sends a run's summary to a Prometheus Pushgateway, grouped by
// job, so that a CronJob that runs for seconds still leaves metrics to alert
// on (no success for a day; actions that fail). It adds to the group rather
// than replacing it: the last success time stays when a run fails.
func pushSummary(ctx context.Context, gateway, jobName string, s actuator.Summary, elapsed time.Duration, runErr error, now time.Time, extra prometheus.Gatherer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p := push.New(gateway, jobName).Gatherer(summaryRegistry(s, elapsed, runErr, now))
	if extra != nil {
		p = p.Gatherer(extra)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push the run summary to %s: %w", gateway, err)
	}
	return nil
}

// summaryRegistry holds a run's summary metrics; the last success time only
// when the run succeeded, so a failed run leaves the previous one.
func summaryRegistry(s actuator.Summary, elapsed time.Duration, runErr error, now time.Time) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	actions := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_run_actions",
		Help: "Actions of the last run by outcome: planned (dry-run only: would be done), done, skipped, failed; all of them (outcome all); findings of a reporting job."}, []string{"outcome"})
	actions.WithLabelValues("all").Set(float64(s.Actions))
	actions.WithLabelValues("planned").Set(float64(s.Planned))
	actions.WithLabelValues("done").Set(float64(s.Done))
	actions.WithLabelValues("skipped").Set(float64(s.Skipped))
	actions.WithLabelValues("failed").Set(float64(s.Failed))
	actions.WithLabelValues("findings").Set(float64(s.Findings))
	duration := prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_run_duration_seconds", Help: "How long the last run took."})
	duration.Set(elapsed.Seconds())
	success := prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_run_success", Help: "1 if the last run succeeded, else 0."})
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_run_last_success_timestamp_seconds", Help: "When a run last succeeded."})
	reg.MustRegister(actions, duration, success)
	if runErr == nil && s.Failed == 0 {
		success.Set(1)
		last.Set(float64(now.Unix()))
		reg.MustRegister(last)
	}
	return reg
}

func validURL(flagName, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--%s=%q: want http(s)://host:port", flagName, s)
	}
	return nil
}
