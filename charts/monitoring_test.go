package charts

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

var everyAlert = []string{"AkashJanitorRunFailed", "AkashJanitorNoRecentSuccess", "AkashJanitorCertificateExpiring",
	"AkashJanitorCertificateCritical", "AkashJanitorZombieEscalationFailed", "AkashJanitorGPUUnmapped",
	"AkashJanitorAKTPriceStale", "AkashJanitorBidPriceErrors", "AkashJanitorBidPriceSlow", "AkashJanitorDanglingLeasesReported", "AkashJanitorCloseBudgetExhausted",
	"AkashJanitorProviderHoldsEndedLeases", "AkashJanitorNotMonitored", "AkashJanitorBiddingStopped",
	"AkashJanitorCompletionRateLow", "AkashJanitorProviderCheckFailed"}

// Every alert parses, waits, has a severity, and says what to do.
func TestAlertsParseAndSayWhatToDo(t *testing.T) {
	rs := charttest.Rules(t, charttest.MonitoringValues())
	names := map[string]int{}
	for _, r := range rs {
		names[r.Alert]++
		_, err := parser.ParseExpr(r.Expr)
		assert.NoError(t, err, "%s: %s", r.Alert, r.Expr)
		_, err = model.ParseDuration(r.For)
		assert.NoError(t, err, "%s: for %q", r.Alert, r.For)
		assert.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], r.Alert)
		assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
		d := r.Annotations["description"]
		assert.True(t, strings.Contains(d, "kubectl") || strings.Contains(d, "bidPrice.") || strings.Contains(d, "kubeadm"),
			"%s: the description gives the step to take: %s", r.Alert, d)
	}
	for _, n := range everyAlert {
		assert.Contains(t, names, n)
	}
	assert.Equal(t, 6, names["AkashJanitorNoRecentSuccess"], "one per CronJob component that runs on a schedule")

	// Off by default: nothing rendered.
	objs, _, err := charttest.Render(nil)
	require.NoError(t, err)
	assert.NotContains(t, objs, "PrometheusRule/akash-janitor")
	assert.NotContains(t, objs, "ConfigMap/akash-janitor-dashboard")
}

// Per alert: disable it, change its for and severity, add labels.
func TestAlertOverrides(t *testing.T) {
	v := charttest.MonitoringValues()
	v["monitoring"].(map[string]any)["prometheusRule"] = map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"},
		"alerts": map[string]any{
			"AkashJanitorGPUUnmapped":         map[string]any{"enabled": false},
			"AkashJanitorRunFailed":           map[string]any{"for": "10m", "severity": "critical", "labels": map[string]any{"team": "infra"}},
			"AkashJanitorBidPriceSlow":        map[string]any{"enabled": true},
			"AkashJanitorCertificateCritical": map[string]any{"labels": map[string]any{"page": "yes"}},
		}}
	byName := map[string]charttest.Rule{}
	for _, r := range charttest.Rules(t, v) {
		byName[r.Alert] = r
	}
	assert.NotContains(t, byName, "AkashJanitorGPUUnmapped")
	assert.Contains(t, byName, "AkashJanitorBidPriceSlow")
	assert.Equal(t, "10m", byName["AkashJanitorRunFailed"].For)
	assert.Equal(t, map[string]string{"severity": "critical", "team": "infra"}, byName["AkashJanitorRunFailed"].Labels)
	assert.Equal(t, map[string]string{"severity": "critical", "page": "yes"}, byName["AkashJanitorCertificateCritical"].Labels)
	objs, _, err := charttest.Render(v)
	require.NoError(t, err)
	assert.Equal(t, "kps", objs["PrometheusRule/akash-janitor"].GetLabels()["release"])

	// Every alert the chart renders can be overridden.
	for _, name := range everyAlert {
		v["monitoring"].(map[string]any)["prometheusRule"] = map[string]any{"enabled": true,
			"alerts": map[string]any{name: map[string]any{"severity": "info"}}}
		_, _, err := charttest.Render(v)
		assert.NoError(t, err, "an override of %s", name)
	}
	for name, alerts := range map[string]map[string]any{
		"an unknown alert": {"AkashJanitorNoSuchAlert": map[string]any{"enabled": false}},
		"a bad for":        {"AkashJanitorRunFailed": map[string]any{"for": "ten minutes"}},
		"an unknown key":   {"AkashJanitorRunFailed": map[string]any{"fore": "10m"}},
	} {
		v["monitoring"].(map[string]any)["prometheusRule"] = map[string]any{"enabled": true, "alerts": alerts}
		_, _, err := charttest.Render(v)
		assert.Error(t, err, name)
	}
}

func TestDashboard(t *testing.T) {
	dash, panels := charttest.Dashboard(t, charttest.MonitoringValues())
	assert.Equal(t, "akash-janitor", dash["uid"])
	ids := map[int]string{}
	var rows []string
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d is used twice: %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			_, err := parser.ParseExpr(tg.Expr)
			assert.NoError(t, err, "panel %q: %s", p.Title, tg.Expr)
		}
	}
	for _, component := range []string{"Every job", "zombie-reaper", "bid-price", "cert-expiry", "dangling-deployments", "close-stale-bids", "provider-doctor"} {
		found := false
		for _, r := range rows {
			found = found || strings.HasPrefix(r, component)
		}
		assert.True(t, found, "a row for %s", component)
	}
	objs, _, err := charttest.Render(charttest.MonitoringValues())
	require.NoError(t, err)
	assert.Equal(t, "1", objs["ConfigMap/akash-janitor-dashboard"].GetLabels()["grafana_dashboard"], "the Grafana sidecar's label")
}

// kube-state-metrics' series the run alerts read, with their labels: all
// STABLE in kube-state-metrics (internal/store/job.go, cronjob.go;
// docs/metrics/workload/job-metrics.md, cronjob-metrics.md).
var kubeStateMetrics = map[string][]string{
	"kube_job_owner":                           {"namespace", "job_name", "owner_kind", "owner_name", "owner_is_controller"},
	"kube_job_status_start_time":               {"namespace", "job_name"},
	"kube_job_failed":                          {"namespace", "job_name", "condition"},
	"kube_cronjob_created":                     {"namespace", "cronjob"},
	"kube_cronjob_status_last_successful_time": {"namespace", "cronjob"},
}

// Every metric the alerts and the dashboard use belongs to a component
// whose own test holds it to what the component registers
// (charttest.RequireEmitted in lib/job, bid-price, zombie-reaper,
// cert-expiry, dangling-deployments), or is kube-state-metrics', selected
// by labels it has.
func TestMetricsUsedBelongToAComponent(t *testing.T) {
	owners := []string{"akash_janitor_run_", "akash_janitor_cert_expiry_", "akash_janitor_bid_price_",
		"akash_janitor_zombie_reaper_", "akash_janitor_dangling_deployments_", "akash_janitor_close_budget_", "akash_janitor_provider_",
		"akash_janitor_bids_", "akash_janitor_orders_", "akash_janitor_leases_", "akash_janitor_lease_completion_", "akash_janitor_doctor_"}
	for _, name := range charttest.MetricsUsed(t, "") {
		owned := false
		for _, o := range owners {
			owned = owned || strings.HasPrefix(name, o)
		}
		_, ksm := kubeStateMetrics[name]
		assert.True(t, owned || ksm, "%s is no component's metric, nor kube-state-metrics'", name)
	}
	for _, r := range charttest.Rules(t, charttest.MonitoringValues()) {
		expr, err := parser.ParseExpr(r.Expr)
		require.NoError(t, err)
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || !strings.HasPrefix(vs.Name, "kube_") {
				return nil
			}
			for _, m := range vs.LabelMatchers {
				if m.Name != labels.MetricName {
					assert.Contains(t, kubeStateMetrics[vs.Name], m.Name, "%s: %s has no label %s", r.Alert, vs.Name, m.Name)
				}
			}
			return nil
		})
	}
}

// rule makes the rendered alert an evaluable rule.
func rule(t *testing.T, name string, match func(charttest.Rule) bool) *rules.AlertingRule {
	t.Helper()
	for _, r := range charttest.Rules(t, charttest.MonitoringValues()) {
		if r.Alert != name || (match != nil && !match(r)) {
			continue
		}
		expr, err := parser.ParseExpr(r.Expr)
		require.NoError(t, err)
		hold, err := model.ParseDuration(r.For)
		require.NoError(t, err)
		return rules.NewAlertingRule(r.Alert, expr, time.Duration(hold), 0, labels.FromMap(r.Labels), labels.FromMap(r.Annotations),
			labels.EmptyLabels(), "", true, nil)
	}
	t.Fatalf("no alert %s", name)
	return nil
}

// firing evaluates the rule once a minute over the loaded series, as
// `promtool test rules` does, and returns the alerts firing at the end.
func firing(t *testing.T, r *rules.AlertingRule, series string, until time.Duration) []*rules.Alert {
	t.Helper()
	storage := promqltest.LoadedStorage(t, series)
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	query := rules.EngineQueryFunc(engine, storage)
	var out []*rules.Alert
	for at := time.Duration(0); at <= until; at += time.Minute {
		_, err := r.Eval(context.Background(), 0, time.Unix(0, 0).Add(at), query, nil, 0)
		require.NoError(t, err)
	}
	for _, a := range r.ActiveAlerts() {
		if a.State == rules.StateFiring {
			out = append(out, a)
		}
	}
	return out
}

// jobSeries are kube-state-metrics' series for a Job of a CronJob in
// akash-services: started at start (seconds), failed or not.
func jobSeries(cronJob, job string, start int, failed bool) string {
	f := "0"
	if failed {
		f = "1"
	}
	return fmt.Sprintf(`
  kube_job_owner{namespace="akash-services",job_name=%[2]q,owner_kind="CronJob",owner_name=%[1]q,owner_is_controller="true"} 1x20
  kube_job_status_start_time{namespace="akash-services",job_name=%[2]q} %[3]dx20
  kube_job_failed{namespace="akash-services",job_name=%[2]q,condition="true"} %[4]sx20
  kube_job_failed{namespace="akash-services",job_name=%[2]q,condition="false"} %[5]sx20`,
		cronJob, job, start, f, map[string]string{"0": "1", "1": "0"}[f])
}

// The newest Job of a CronJob failed: it fires, named after the
// component; a failure followed by a success does not, nor a Job of
// another CronJob.
func TestRuleFailedRun(t *testing.T) {
	r := rule(t, "AkashJanitorRunFailed", nil)
	got := firing(t, r, "load 1m"+
		jobSeries("akash-janitor-force-replicasets", "akash-janitor-force-replicasets-100", 60, true)+
		jobSeries("akash-janitor-force-replicasets", "akash-janitor-force-replicasets-101", 120, false)+
		jobSeries("akash-janitor-kill-lease-by-image", "akash-janitor-kill-lease-by-image-100", 60, false)+
		jobSeries("akash-janitor-kill-lease-by-image", "akash-janitor-kill-lease-by-image-101", 120, true)+
		jobSeries("other-release-kill-lease-by-image", "other-release-kill-lease-by-image-101", 120, true)+
		jobSeries("backup", "backup-101", 120, true)+"\n", 10*time.Minute)
	require.Len(t, got, 1, "the CronJob whose newest run failed, after for: 1m")
	assert.Equal(t, "kill-lease-by-image", got[0].Labels.Get("component"))
	assert.Equal(t, "akash-janitor-kill-lease-by-image", got[0].Labels.Get("owner_name"))
	assert.Equal(t, "warning", got[0].Labels.Get("severity"))
	assert.Equal(t, "akash-janitor kill-lease-by-image: the last run failed", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "app.kubernetes.io/component=kill-lease-by-image --tail=200")

	assert.Empty(t, firing(t, r, "load 1m"+
		jobSeries("akash-janitor-provider-doctor", "akash-janitor-provider-doctor-100", 60, true)+
		jobSeries("akash-janitor-provider-doctor", "akash-janitor-provider-doctor-101", 120, false)+"\n", 10*time.Minute),
		"a later run succeeded")
}

// A Prometheus without kube-state-metrics' series of these CronJobs says
// so once, and the run alerts stay quiet rather than fire on nothing.
func TestRuleNotMonitored(t *testing.T) {
	r := rule(t, "AkashJanitorNotMonitored", nil)
	got := firing(t, r, `
load 1m
  kube_cronjob_created{namespace="kube-system",cronjob="etcd-backup"} 0x40
`, 40*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "info", got[0].Labels.Get("severity"))
	assert.Contains(t, got[0].Annotations.Get("description"), "kube-state-metrics")
	assert.Empty(t, firing(t, rule(t, "AkashJanitorNotMonitored", nil), `
load 1m
  kube_cronjob_created{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0x40
`, 40*time.Minute))
	assert.Empty(t, firing(t, rule(t, "AkashJanitorRunFailed", nil), `
load 1m
  kube_cronjob_created{namespace="kube-system",cronjob="etcd-backup"} 0x40
`, 40*time.Minute))
}

func TestRuleCloseBudgetExhausted(t *testing.T) {
	r := rule(t, "AkashJanitorCloseBudgetExhausted", nil)
	got := firing(t, r, `
load 1m
  akash_janitor_close_budget_held{job="dangling-deployments"} 0x10
  akash_janitor_close_budget_held{job="kill-lease-by-image"} 0 0 0 3x7
`, 10*time.Minute)
	require.Len(t, got, 1, "the job whose last run held closes")
	assert.Equal(t, "kill-lease-by-image", got[0].Labels.Get("job"))
	assert.Equal(t, "kill-lease-by-image held 3 lease closes: the daily close budget is used up", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "get configmap akash-janitor-close-budget -o jsonpath='{.data.closes}'")
}

// The provider holds capacity for leases that are gone: a restart
// (restartProvider.mode when-leaked, once an hour) should have given it
// back within 90 minutes; a run that did not read the status pushes no
// figure, which does not fire.
func TestRuleProviderHoldsEndedLeases(t *testing.T) {
	r := rule(t, "AkashJanitorProviderHoldsEndedLeases", nil)
	assert.Empty(t, firing(t, r, `
load 1m
  akash_janitor_provider_stale_leases{job="dangling-deployments"} 2x20 0x100
`, 120*time.Minute), "given back by a restart after 20 minutes")
	got := firing(t, r, `
load 1m
  akash_janitor_provider_stale_leases{job="dangling-deployments"} 2x120
`, 120*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "the provider holds the capacity of 2 leases that are gone, and bids none of it", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "kubectl -n akash-services delete pod akash-provider-0")
	assert.Empty(t, firing(t, r, `
load 1m
  akash_janitor_provider_leases{job="dangling-deployments",source="chain"} 5x120
`, 120*time.Minute), "nothing pushed: nothing fires")
}

// The provider gives its price script 10 s (provider
// cmd/provider-services/cmd/flags.go --bid-price-script-process-timeout):
// the alert fires at 80% of that, not of the runbook's 5 s.
func TestRuleBidPriceSlowIsTheProvidersLimit(t *testing.T) {
	for _, r := range charttest.Rules(t, charttest.MonitoringValues()) {
		if r.Alert == "AkashJanitorBidPriceSlow" {
			assert.Contains(t, r.Expr, "> 10 * 0.8")
			assert.Contains(t, r.Annotations["description"], "the provider's limit of 10 s")
			return
		}
	}
	t.Fatal("no AkashJanitorBidPriceSlow")
}

func TestRuleNoRecentSuccess(t *testing.T) {
	forceReplicasets := func(r charttest.Rule) bool { return strings.Contains(r.Expr, `"akash-janitor-force-replicasets"`) }
	r := rule(t, "AkashJanitorNoRecentSuccess", forceReplicasets)
	// The last success at 0 s; by 25 minutes, 15 have passed and the 5 of
	// for too.
	got := firing(t, r, `
load 1m
  kube_cronjob_created{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0x30
  kube_cronjob_status_last_successful_time{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0x30
`, 25*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "akash-janitor force-replicasets: no successful run for 15 minutes", got[0].Annotations.Get("summary"))
	// A job that keeps succeeding.
	r = rule(t, "AkashJanitorNoRecentSuccess", forceReplicasets)
	assert.Empty(t, firing(t, r, `
load 1m
  kube_cronjob_created{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0x30
  kube_cronjob_status_last_successful_time{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0+60x30
`, 25*time.Minute))
	// Installed 25 minutes ago and never succeeded: kube-state-metrics has
	// no last successful time at all.
	r = rule(t, "AkashJanitorNoRecentSuccess", forceReplicasets)
	got = firing(t, r, `
load 1m
  kube_cronjob_created{namespace="akash-services",cronjob="akash-janitor-force-replicasets"} 0x30
`, 25*time.Minute)
	require.Len(t, got, 1, "never succeeded since it was created")
	// Another release's CronJob of the same component is not this one.
	r = rule(t, "AkashJanitorNoRecentSuccess", forceReplicasets)
	assert.Empty(t, firing(t, r, `
load 1m
  kube_cronjob_created{namespace="akash-services",cronjob="other-force-replicasets"} 0x30
`, 25*time.Minute))
}

// An alert is rendered only where what it reads is wired: pushed figures
// need global.pushgateway.url, scraped ones the component's PodMonitor.
func TestRulesOnlyWhatIsWired(t *testing.T) {
	names := func(v map[string]any) map[string]bool {
		out := map[string]bool{}
		for _, r := range charttest.Rules(t, v) {
			out[r.Alert] = true
		}
		return out
	}
	v := charttest.MonitoringValues()
	v["global"] = map[string]any{"pushgateway": map[string]any{"url": ""}}
	got := names(v)
	for _, pushed := range []string{"AkashJanitorCertificateExpiring", "AkashJanitorDanglingLeasesReported", "AkashJanitorCloseBudgetExhausted", "AkashJanitorProviderHoldsEndedLeases"} {
		assert.NotContains(t, got, pushed, "no Pushgateway")
	}
	assert.Contains(t, got, "AkashJanitorRunFailed", "kube-state-metrics needs no Pushgateway")
	assert.Contains(t, got, "AkashJanitorGPUUnmapped")

	v = charttest.MonitoringValues()
	v["bidPrice"] = map[string]any{"enabled": true}
	v["zombieReaper"] = map[string]any{"enabled": false}
	got = names(v)
	for _, scraped := range []string{"AkashJanitorGPUUnmapped", "AkashJanitorBidPriceSlow", "AkashJanitorZombieEscalationFailed"} {
		assert.NotContains(t, got, scraped, "not scraped")
	}
	assert.Contains(t, got, "AkashJanitorCertificateExpiring")

	_, notes, err := charttest.Render(v)
	require.NoError(t, err)
	assert.Contains(t, notes, "Not rendered, nothing scrapes it: bid-price's alerts (set bidPrice.metrics.podMonitor.enabled=true)")
	_, notes, err = charttest.Render(charttest.MonitoringValues())
	require.NoError(t, err)
	assert.NotContains(t, notes, "Not rendered", "everything wired")

	// zombie-reaper alone, unscraped: no alert could fire, so no rule.
	v = map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"enabled": true}}}
	for _, c := range []string{"forceReplicasets", "providerDoctor", "certExpiry", "killLeaseByImage", "danglingDeployments", "closeStaleBids"} {
		v[c] = map[string]any{"enabled": false}
	}
	objs, _, err := charttest.Render(v)
	require.NoError(t, err)
	assert.NotContains(t, objs, "PrometheusRule/akash-janitor", "nothing an alert could watch")
	v["zombieReaper"] = map[string]any{"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}}
	objs, _, err = charttest.Render(v)
	require.NoError(t, err)
	assert.Contains(t, objs, "PrometheusRule/akash-janitor", "zombie-reaper scraped")
}

func TestRuleCertificates(t *testing.T) {
	series := `
load 1m
  akash_janitor_cert_expiry_days_left{node="cp-1",source="file",where="/etc/kubernetes/pki/apiserver.crt",subject="CN=kube-apiserver"} 3x30
  akash_janitor_cert_expiry_days_left{node="cp-1",source="file",where="/etc/kubernetes/pki/ca.crt",subject="CN=kubernetes"} 20x30
  akash_janitor_cert_expiry_days_left{node="cp-1",source="file",where="/etc/kubernetes/pki/front-proxy.crt",subject="CN=front-proxy"} 300x30
`
	warn := firing(t, rule(t, "AkashJanitorCertificateExpiring", nil), series, 30*time.Minute)
	crit := firing(t, rule(t, "AkashJanitorCertificateCritical", nil), series, 30*time.Minute)
	where := func(as []*rules.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Labels.Get("where"))
		}
		return out
	}
	assert.ElementsMatch(t, []string{"/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/ca.crt"}, where(warn), "below 30 days")
	assert.Equal(t, []string{"/etc/kubernetes/pki/apiserver.crt"}, where(crit), "below 7 days")
	assert.Equal(t, "critical", crit[0].Labels.Get("severity"))
	assert.Equal(t, fmt.Sprintf("certificate %s on cp-1 expires in 3 days", "/etc/kubernetes/pki/apiserver.crt"), crit[0].Annotations.Get("summary"))
}

// Bidding stopped: no bid placed in the window while orders kept opening;
// quiet while the provider bids, while too few orders opened, and when the
// run pushed nothing.
func TestRuleBiddingStopped(t *testing.T) {
	r := rule(t, "AkashJanitorBiddingStopped", nil)
	got := firing(t, r, `
load 1m
  akash_janitor_bids_placed_recent{job="close-stale-bids"} 4x10 0x40
  akash_janitor_orders_opened_recent{job="close-stale-bids"} 5x50
`, 50*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "the provider placed no bid in 1h while tenants opened orders", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "kubectl -n akash-services logs akash-provider-0 --tail=500 | grep -i bid")
	for name, series := range map[string]string{
		"bidding":           "akash_janitor_bids_placed_recent{job=\"close-stale-bids\"} 2x50\n  akash_janitor_orders_opened_recent{job=\"close-stale-bids\"} 5x50",
		"two orders opened": "akash_janitor_bids_placed_recent{job=\"close-stale-bids\"} 0x50\n  akash_janitor_orders_opened_recent{job=\"close-stale-bids\"} 2x50",
		"nothing pushed":    "akash_janitor_bids_open{job=\"close-stale-bids\"} 3x50",
	} {
		assert.Empty(t, firing(t, rule(t, "AkashJanitorBiddingStopped", nil), "load 1m\n  "+series+"\n", 50*time.Minute), name)
	}
}

// The completion rate below AEP-86's 98% fires from 10 leases, not below.
func TestRuleCompletionRateLow(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorCompletionRateLow", nil), `
load 1m
  akash_janitor_lease_completion_rate{job="close-stale-bids"} 0.99x10 0.95x50
  akash_janitor_leases_in_completion_window{job="close-stale-bids"} 40x60
`, 60*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "the provider's lease completion rate is 95%", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "set provider.minCompletionRate")
	assert.Empty(t, firing(t, rule(t, "AkashJanitorCompletionRateLow", nil), `
load 1m
  akash_janitor_lease_completion_rate{job="close-stale-bids"} 0.8x60
  akash_janitor_leases_in_completion_window{job="close-stale-bids"} 5x60
`, 60*time.Minute), "fewer than 10 leases: AEP-86 does not count them")
}

// A provider check that finds a fault fires, per check; one that stops
// finding it clears.
func TestRuleProviderCheckFailed(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorProviderCheckFailed", nil), `
load 1m
  akash_janitor_doctor_findings{job="provider-doctor",check="StorageClassNotLabelled"} 1x30
  akash_janitor_doctor_findings{job="provider-doctor",check="AuditNoLongerMatches"} 1x5 0x25
  akash_janitor_doctor_findings{job="provider-doctor",check="CertificateExpiring"} 0x30
`, 30*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "StorageClassNotLabelled", got[0].Labels.Get("check"))
	assert.Equal(t, "provider check StorageClassNotLabelled: 1 findings", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "kubectl get events -A --field-selector reason=StorageClassNotLabelled")
}

// GOMEMLIMIT is 90% of each container's memory limit, in bytes.
func TestGOMEMLIMITIsNinetyPercentOfTheLimit(t *testing.T) {
	v := charttest.MonitoringValues()
	v["bidPrice"] = map[string]any{"enabled": true, "resources": map[string]any{"limits": map[string]any{"memory": "1.5Gi"}}}
	objs, _, err := charttest.Render(v)
	require.NoError(t, err)
	checked := 0
	for key, u := range objs {
		containers, found, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if !found {
			containers, found, _ = unstructured.NestedSlice(u.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
		}
		if !found {
			continue
		}
		for _, c := range containers {
			var ctr corev1.Container
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(c.(map[string]any), &ctr))
			limit, ok := ctr.Resources.Limits[corev1.ResourceMemory]
			if !ok {
				continue
			}
			want := fmt.Sprint(int64(float64(limit.Value()) * 0.9))
			got := ""
			for _, e := range ctr.Env {
				if e.Name == "GOMEMLIMIT" {
					got = e.Value
				}
			}
			assert.Equal(t, want, got, "%s container %s (limit %s)", key, ctr.Name, limit.String())
			checked++
		}
	}
	assert.GreaterOrEqual(t, checked, 7, "every component's container")
	v["bidPrice"] = map[string]any{"enabled": true, "resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}
	_, _, err = charttest.Render(v)
	assert.ErrorContains(t, err, `resources.limits.memory "lots"`)
}

// Artifact Hub lists an image for every binary under jobs/, named as the
// chart's default image references and ci/images.sh name them.
func TestChartListsEveryImage(t *testing.T) {
	chrt, err := loader.Load(charttest.ChartDir())
	require.NoError(t, err)
	var images []struct{ Name, Image string }
	require.NoError(t, yaml.Unmarshal([]byte(chrt.Metadata.Annotations["artifacthub.io/images"]), &images))
	listed := map[string]string{}
	for _, im := range images {
		listed[im.Name] = im.Image
	}
	dirs, err := os.ReadDir("../jobs")
	require.NoError(t, err)
	for _, d := range dirs {
		if d.IsDir() {
			assert.Equal(t, "ghcr.io/akash-janitor/"+d.Name()+":"+chrt.Metadata.AppVersion, listed[d.Name()], d.Name())
		}
	}
	assert.Len(t, listed, len(dirs))
	for _, kind := range []string{"artifacthub.io/license", "artifacthub.io/links", "artifacthub.io/changes"} {
		assert.NotEmpty(t, chrt.Metadata.Annotations[kind], kind)
	}
}

// The chart's README is what `make chart-docs` writes from values.yaml's
// comments: a change of values.yaml without it fails here.
func TestChartREADMEIsCurrent(t *testing.T) {
	values, err := os.ReadFile(charttest.ChartDir() + "/values.yaml")
	require.NoError(t, err)
	want, err := charttest.ValuesDoc(values)
	require.NoError(t, err)
	got, err := os.ReadFile(charttest.ChartDir() + "/README.md")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "charts/akash-janitor/README.md is stale: run make chart-docs")
	for _, key := range []string{"`monitoring.prometheusRule.enabled`", "`bidPrice.aktPrice.static`", "`zombieReaper.interval`"} {
		assert.Contains(t, want, key)
	}
	// A value without a comment is refused, not written with an empty
	// description.
	_, err = charttest.ValuesDoc([]byte("# a block\nblock:\n  # documented: yes\n  documented: 1\n  bare: 2\n"))
	assert.ErrorContains(t, err, "block.bare has no comment in values.yaml")
}

// The overrides operators expect of a chart: names, namespace, labels and
// annotations on every object and pod.
func TestNameNamespaceAndPodOverrides(t *testing.T) {
	v := charttest.MonitoringValues()
	v["fullnameOverride"] = "janitor"
	v["namespaceOverride"] = "ops"
	v["commonLabels"] = map[string]any{"team": "infra"}
	v["podLabels"] = map[string]any{"tier": "ops"}
	v["podAnnotations"] = map[string]any{"backup.velero.io/backup-volumes": ""}
	objs, _, err := charttest.Render(v)
	require.NoError(t, err)
	pods := 0
	for key, u := range objs {
		assert.True(t, strings.HasPrefix(u.GetName(), "janitor"), "%s is named after fullnameOverride", key)
		assert.Equal(t, "infra", u.GetLabels()["team"], "%s has the common labels", key)
		if ns := u.GetNamespace(); ns != "" && ns != "lease" && !(u.GetKind() == "Role" && ns == "akash-services") && !(u.GetKind() == "RoleBinding" && ns == "akash-services") {
			assert.Equal(t, "ops", ns, "%s goes to namespaceOverride", key)
		}
		for _, path := range [][]string{{"spec", "template", "metadata"}, {"spec", "jobTemplate", "spec", "template", "metadata"}} {
			meta, found, _ := unstructured.NestedMap(u.Object, path...)
			if !found {
				continue
			}
			pods++
			labels, _, _ := unstructured.NestedStringMap(meta, "labels")
			annotations, _, _ := unstructured.NestedStringMap(meta, "annotations")
			assert.Equal(t, "ops", labels["tier"], "%s's pods have podLabels", key)
			assert.Contains(t, annotations, "backup.velero.io/backup-volumes", "%s's pods have podAnnotations", key)
		}
	}
	assert.GreaterOrEqual(t, pods, 7, "every component's pods")

	v = map[string]any{"nameOverride": "sweeper"}
	objs, _, err = charttest.Render(v)
	require.NoError(t, err)
	cj := objs["CronJob/akash-janitor-sweeper-force-replicasets"]
	require.NotNil(t, cj, "nameOverride names the objects: %v", keys(objs))
	assert.Equal(t, "sweeper", cj.GetLabels()["app.kubernetes.io/name"])
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A zombie parent killed or unsignalled fires, per node and result, and
// clears once 30 minutes pass without one; SIGCHLD that worked does not.
func TestRuleZombieEscalationFailed(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorZombieEscalationFailed", nil), `
load 1m
  akash_janitor_zombie_reaper_escalations_total{node="gpu-1",result="killed"} 0x5 1x25
  akash_janitor_zombie_reaper_escalations_total{node="gpu-2",result="reaped"} 0x5 4x25
  akash_janitor_zombie_reaper_escalations_total{node="gpu-3",result="failed"} 0 1x29
`, 30*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "gpu-1", got[0].Labels.Get("node"))
	assert.Equal(t, "zombie-reaper on gpu-1: escalations killed in the last 30 minutes", got[0].Annotations.Get("summary"))
	assert.Empty(t, firing(t, rule(t, "AkashJanitorZombieEscalationFailed", nil), `
load 1m
  akash_janitor_zombie_reaper_escalations_total{node="gpu-1",result="reaped"} 0 1 2 3 4 5 6 7 8 9
`, 9*time.Minute), "reaped on SIGCHLD")
}

// A GPU the nodes offer without a price mapping fires per key after 30
// minutes; a mapped one never does.
func TestRuleGPUUnmapped(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorGPUUnmapped", nil), `
load 1m
  akash_janitor_bid_price_gpu_unmapped{key="nvidia.h200.141Gi.sxm5"} 1x40
  akash_janitor_bid_price_gpu_unmapped{key="nvidia.a100.80Gi.sxm4"} 0x40
  akash_janitor_bid_price_gpu_unmapped{key="amd.mi300x"} 1x20 0x20
`, 40*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "GPU nvidia.h200.141Gi.sxm5 has no price mapping", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "bidPrice.gpuPriceMappings")
}

// The AKT price older than aktPriceMaxAgeSeconds for 10 minutes fires; a
// price refreshed in time does not.
func TestRuleAKTPriceStale(t *testing.T) {
	// The default limit is 4500 s: crossed at 8 minutes, firing 10 later.
	stale := firing(t, rule(t, "AkashJanitorAKTPriceStale", nil), `
load 1m
  akash_janitor_bid_price_akt_price_age_seconds{pod="bid-price-0"} 4000+60x30
`, 30*time.Minute)
	require.Len(t, stale, 1)
	assert.Contains(t, stale[0].Annotations.Get("description"), "bidPrice.aktPrice.static")
	assert.Empty(t, firing(t, rule(t, "AkashJanitorAKTPriceStale", nil), `
load 1m
  akash_janitor_bid_price_akt_price_age_seconds{pod="bid-price-0"} 0+60x4 0+60x4 0+60x4 0+60x4 0+60x4 0+60x4
`, 29*time.Minute), "refreshed every five minutes")
}

// Server errors sustained for 5 minutes fire (the provider gets no price
// and does not bid); successful answers and a single blip do not.
func TestRuleBidPriceErrors(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorBidPriceErrors", nil), `
load 1m
  akash_janitor_bid_price_request_duration_seconds_count{pod="bid-price-0",code="200"} 0+10x30
  akash_janitor_bid_price_request_duration_seconds_count{pod="bid-price-0",code="500"} 0+2x30
`, 30*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "critical", got[0].Labels.Get("severity"))
	assert.Empty(t, firing(t, rule(t, "AkashJanitorBidPriceErrors", nil), `
load 1m
  akash_janitor_bid_price_request_duration_seconds_count{pod="bid-price-0",code="200"} 0+10x30
  akash_janitor_bid_price_request_duration_seconds_count{pod="bid-price-0",code="500"} 0x10 1x20
`, 30*time.Minute), "one error, ten minutes back")
}

// Leases the job reports but may not act on fire per reason after an hour;
// a report that clears does not.
func TestRuleDanglingLeasesReported(t *testing.T) {
	got := firing(t, rule(t, "AkashJanitorDanglingLeasesReported", nil), `
load 1m
  akash_janitor_dangling_deployments_reported{job="dangling-deployments",reason="LeaseWithoutWorkload"} 3x90
  akash_janitor_dangling_deployments_reported{job="dangling-deployments",reason="DoubtfulChainAnswer"} 12x30 0x60
  akash_janitor_dangling_deployments_reported{job="dangling-deployments",reason="LeaseNotLiveOnChain"} 0x90
`, 90*time.Minute)
	require.Len(t, got, 1)
	assert.Equal(t, "LeaseWithoutWorkload", got[0].Labels.Get("reason"))
	assert.Equal(t, "dangling-deployments reports 3 leases (LeaseWithoutWorkload) it may not act on", got[0].Annotations.Get("summary"))
	assert.Contains(t, got[0].Annotations.Get("description"), "--close-missing")
}

// Answers whose 99th percentile passes 8 s (80% of the provider's 10 s)
// for 10 minutes fire; answers in milliseconds do not.
func TestRuleBidPriceSlowFires(t *testing.T) {
	slow := func(le9, le10, inf string) string {
		return `
load 1m
  akash_janitor_bid_price_request_duration_seconds_bucket{pod="bid-price-0",code="200",le="0.1"} 0+1x30
  akash_janitor_bid_price_request_duration_seconds_bucket{pod="bid-price-0",code="200",le="9"} ` + le9 + `
  akash_janitor_bid_price_request_duration_seconds_bucket{pod="bid-price-0",code="200",le="10"} ` + le10 + `
  akash_janitor_bid_price_request_duration_seconds_bucket{pod="bid-price-0",code="200",le="+Inf"} ` + inf + `
`
	}
	got := firing(t, rule(t, "AkashJanitorBidPriceSlow", nil), slow("0+1x30", "0+11x30", "0+11x30"), 30*time.Minute)
	require.Len(t, got, 1, "ten of eleven answers between 9 and 10 s")
	assert.Empty(t, firing(t, rule(t, "AkashJanitorBidPriceSlow", nil), slow("0+1x30", "0+1x30", "0+1x30"), 30*time.Minute), "every answer under 0.1 s")
}
