// Package charttest renders the chart with the Helm SDK, client-only as
// `helm template` does (schema validation included), for the chart's tests
// and for each component's test that holds the chart's alerts and dashboard
// to the metrics the component registers.
package charttest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ChartDir is the chart's directory.
func ChartDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "akash-janitor")
}

// Render renders the chart with values and returns the objects by
// "Kind/name", hooks included, and the notes.
func Render(values map[string]any) (map[string]*unstructured.Unstructured, string, error) {
	return RenderFor("v1.34.4", values)
}

// RenderFor renders the chart as for a cluster of that Kubernetes version
// (v1.MINOR.PATCH).
func RenderFor(kubeVersion string, values map[string]any) (map[string]*unstructured.Unstructured, string, error) {
	manifest, notes, err := Manifest(kubeVersion, values)
	if err != nil {
		return nil, "", err
	}
	objs := map[string]*unstructured.Unstructured{}
	for _, doc := range strings.Split(manifest, "\n---") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, "", fmt.Errorf("a rendered document is not YAML: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		objs[u.GetKind()+"/"+u.GetName()] = u
	}
	return objs, notes, nil
}

// Manifest renders the chart as `helm template` does for a cluster of that
// Kubernetes version (v1.MINOR.PATCH), release akash-janitor in
// akash-services: the objects as one YAML stream, the hooks after them, and
// the notes.
func Manifest(kubeVersion string, values map[string]any) (string, string, error) {
	parts := strings.Split(strings.TrimPrefix(kubeVersion, "v"), ".")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("kube version %q: want v1.MINOR.PATCH", kubeVersion)
	}
	chrt, err := loader.Load(ChartDir())
	if err != nil {
		return "", "", err
	}
	inst := action.NewInstall(&action.Configuration{})
	inst.ClientOnly = true
	inst.DryRun = true
	inst.ReleaseName = "akash-janitor"
	inst.Namespace = "akash-services"
	inst.KubeVersion = &chartutil.KubeVersion{Version: kubeVersion, Major: parts[0], Minor: parts[1]}
	rel, err := inst.Run(chrt, values)
	if err != nil {
		return "", "", err
	}
	// The hooks (Helm keeps them apart from the manifest) too.
	manifest := rel.Manifest
	for _, h := range rel.Hooks {
		manifest += "\n---\n" + h.Manifest
	}
	return manifest, rel.Info.Notes, nil
}

// MonitoringValues enable every component, the alerts and the dashboard.
func MonitoringValues() map[string]any {
	on := map[string]any{"enabled": true}
	scraped := map[string]any{"enabled": true, "metrics": map[string]any{"podMonitor": on}}
	return map[string]any{
		"global":              map[string]any{"pushgateway": map[string]any{"url": "http://pushgateway.monitoring:9091"}},
		"monitoring":          map[string]any{"prometheusRule": on, "dashboard": on},
		"forceReplicasets":    on,
		"killLeaseByImage":    on,
		"danglingDeployments": on,
		"providerDoctor":      on,
		"certExpiry":          on,
		"bidPrice":            scraped,
		"zombieReaper":        scraped,
	}
}

// Rule is one alerting rule as rendered.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Rules are the PrometheusRule's rules, rendered with values.
func Rules(t testing.TB, values map[string]any) []Rule {
	t.Helper()
	objs, _, err := Render(values)
	require.NoError(t, err)
	pr, ok := objs["PrometheusRule/akash-janitor"]
	require.True(t, ok, "a PrometheusRule akash-janitor is rendered")
	var spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	b, err := json.Marshal(pr.Object["spec"])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &spec))
	var out []Rule
	for _, g := range spec.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Panel is a dashboard panel, as much as the tests read.
type Panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// Dashboard is the rendered dashboard ConfigMap's JSON, parsed (an error
// if it is not JSON), and its panels.
func Dashboard(t testing.TB, values map[string]any) (map[string]any, []Panel) {
	t.Helper()
	objs, _, err := Render(values)
	require.NoError(t, err)
	cm, ok := objs["ConfigMap/akash-janitor-dashboard"]
	require.True(t, ok, "the dashboard ConfigMap is rendered")
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	raw, ok := data["akash-janitor.json"]
	require.True(t, ok, "the ConfigMap holds akash-janitor.json")
	var dash map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &dash), "the dashboard is JSON")
	var parsed struct {
		Panels []Panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &parsed))
	return dash, parsed.Panels
}

// Exprs are every PromQL expression of the alerts and the dashboard with
// MonitoringValues, each with where it is.
func Exprs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i, r := range Rules(t, MonitoringValues()) {
		out[fmt.Sprintf("alert %s (rule %d)", r.Alert, i)] = r.Expr
	}
	_, panels := Dashboard(t, MonitoringValues())
	for _, p := range panels {
		for j, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q target %d", p.ID, p.Title, j)] = tg.Expr
		}
	}
	return out
}

// MetricsUsed are the metric names the expressions select, with a prefix
// ("" for all), sorted.
func MetricsUsed(t testing.TB, prefix string) []string {
	t.Helper()
	seen := map[string]bool{}
	for where, e := range Exprs(t) {
		expr, err := parser.ParseExpr(e)
		require.NoError(t, err, "%s: %s", where, e)
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && strings.HasPrefix(vs.Name, prefix) {
				seen[vs.Name] = true
			}
			return nil
		})
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Registered are the metric names collectors describe, a histogram's
// series (_bucket, _sum, _count) included: what they can emit, whether or
// not a series exists yet.
func Registered(t testing.TB, collectors ...prometheus.Collector) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	ch := make(chan *prometheus.Desc, 100)
	go func() {
		for _, c := range collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		require.NotNil(t, m, "a Desc without a name: %s", d)
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			out[m[1]+suffix] = true
		}
	}
	return out
}

// RequireEmitted fails for each metric the chart uses with the prefix
// that the collectors do not register: a rename in code breaks it.
func RequireEmitted(t testing.TB, prefix string, collectors ...prometheus.Collector) {
	t.Helper()
	have := Registered(t, collectors...)
	used := MetricsUsed(t, prefix)
	require.NotEmpty(t, used, "the chart's alerts and dashboard use no metric %s*", prefix)
	for _, name := range used {
		require.True(t, have[name], "the chart uses %s, which this component does not register", name)
	}
}
