package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
)

// A kubeconfig for a server nobody listens on: the runner builds clients
// without calling the API, so jobs that make no request run fine.
func kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	return p
}

type result struct {
	code int
	out  string
	logs []map[string]any
	raw  string
}

func run(t *testing.T, spec Spec, args []string, env map[string]string) result {
	t.Helper()
	var out, logs bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := Run(context.Background(), spec, args, lookup, &out, &logs)
	r := result{code: code, out: out.String(), raw: logs.String()}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		m := map[string]any{}
		if json.Unmarshal([]byte(l), &m) == nil {
			r.logs = append(r.logs, m)
		}
	}
	return r
}

func TestRunOKWithSummary(t *testing.T) {
	var got Common
	spec := Spec{Name: "demo-job", DefaultMaxActions: 7, Run: func(ctx context.Context, env *Env) error {
		got = env.Common
		return env.Actuator.Apply(ctx, []actuator.Action{{Verb: "noop", Target: actuator.Ref{Kind: "Pod", Name: "p"}}},
			func(context.Context, actuator.Action) error { return nil })
	}}
	r := run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--dry-run"}, nil)
	require.Equal(t, ExitOK, r.code, r.raw)
	assert.True(t, got.DryRun)
	assert.Equal(t, 7, got.MaxActions, "the job's default budget")
	last := r.logs[len(r.logs)-1]
	assert.Equal(t, "run summary", last["message"])
	assert.Equal(t, "demo-job", last["job"])
	assert.EqualValues(t, 1, last["planned"])
	assert.Equal(t, true, last["dry_run"])
	for _, l := range r.logs {
		assert.Equal(t, "demo-job", l["job"], "every line names the job")
	}
}

func TestEnvironmentSetsFlagsAndFlagsWin(t *testing.T) {
	var got Common
	var extra string
	spec := Spec{
		Name:  "demo-job",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&extra, "min-stuck", "5m", "") },
		Run:   func(_ context.Context, env *Env) error { got = env.Common; return nil },
	}
	env := map[string]string{"JANITOR_MAX_ACTIONS": "3", "JANITOR_DRY_RUN": "true", "JANITOR_MIN_STUCK": "10m", "JANITOR_TIMEOUT": "1m"}
	r := run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--timeout", "2m"}, env)
	require.Equal(t, ExitOK, r.code, r.raw)
	assert.Equal(t, 3, got.MaxActions)
	assert.True(t, got.DryRun)
	assert.Equal(t, "10m", extra, "job flags read the environment too")
	assert.Equal(t, 2*time.Minute, got.Timeout, "the command line wins over the environment")
}

func TestBadConfigurationExits2AndRunsNothing(t *testing.T) {
	ran, invalid := false, false
	spec := Spec{
		Name:          "demo-job",
		Pausable:      true,
		NeedsProvider: true,
		Validate: func() error {
			if invalid {
				return errors.New("--image-regex \"(\": missing closing )")
			}
			return nil
		},
		Run: func(context.Context, *Env) error { ran = true; return nil },
	}
	kc := kubeconfig(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, "no-such-flag"},
		{"stray argument", []string{"--kubeconfig", kc, "delete"}, nil, `unexpected argument "delete"`},
		{"bad env", []string{"--kubeconfig", kc}, map[string]string{"JANITOR_MAX_ACTIONS": "many"}, `JANITOR_MAX_ACTIONS="many"`},
		{"negative budget", []string{"--kubeconfig", kc, "--max-actions=-1"}, nil, "--max-actions=-1: must be 0 or more"},
		{"bad log format", []string{"--kubeconfig", kc, "--log-format=xml"}, nil, `--log-format="xml"`},
		{"job validation", []string{"--kubeconfig", kc}, nil, "missing closing )"},
		{"missing kubeconfig", []string{"--kubeconfig", "/nonexistent/kubeconfig"}, nil, "/nonexistent/kubeconfig"},
		{"bad provider pod", []string{"--kubeconfig", kc, "--require-ready-pod=akash-provider-0"}, nil, `--require-ready-pod=\"akash-provider-0\": want namespace/name`},
		{"bad alert selector", []string{"--kubeconfig", kc, "--prometheus-url=http://p:9090", `--blocking-alerts=severity="critical`}, nil, `--blocking-alerts=\"severity=\\\"critical\": not PromQL label matchers`},
		{"alerts with no Prometheus", []string{"--kubeconfig", kc, `--blocking-alerts=severity="critical"`}, nil, `needs --prometheus-url to ask`},
		{"bad Prometheus URL", []string{"--kubeconfig", kc, "--prometheus-url=prometheus:9090"}, nil, `--prometheus-url=\"prometheus:9090\": want http(s)://host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invalid = tt.name == "job validation"
			r := run(t, spec, tt.args, tt.env)
			assert.Equal(t, ExitBadInput, r.code)
			assert.Contains(t, r.raw+r.out, tt.want)
			assert.False(t, ran)
		})
	}
}

func TestFailedRunExits1(t *testing.T) {
	spec := Spec{Name: "demo-job", Run: func(context.Context, *Env) error { return errors.New("chain unreachable") }}
	r := run(t, spec, []string{"--kubeconfig", kubeconfig(t)}, nil)
	assert.Equal(t, ExitFailed, r.code)
	last := r.logs[len(r.logs)-1]
	assert.Equal(t, "error", last["level"])
	assert.Equal(t, "chain unreachable", last["error"])

	spec.Run = func(context.Context, *Env) error { return BadInput("--provider %q is not a bech32 address", "x") }
	assert.Equal(t, ExitBadInput, run(t, spec, []string{"--kubeconfig", kubeconfig(t)}, nil).code)

	spec.Run = func(ctx context.Context, env *Env) error {
		return env.Actuator.Apply(ctx, []actuator.Action{{Verb: "x", Target: actuator.Ref{Kind: "Pod", Name: "p"}}},
			func(context.Context, actuator.Action) error { return errors.New("forbidden") })
	}
	assert.Equal(t, ExitFailed, run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--max-actions=1"}, nil).code)
}

func TestHelpAndVersion(t *testing.T) {
	spec := Spec{Name: "demo-job", Summary: "does a demo", Run: func(context.Context, *Env) error { t.Fatal("must not run"); return nil }}
	r := run(t, spec, []string{"--help"}, nil)
	assert.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.out, "does a demo")
	assert.Contains(t, r.out, "JANITOR_LOG_LEVEL")
	assert.Contains(t, r.out, "      --dry-run ")
	assert.Contains(t, r.out, "      --max-actions int ")
	assert.NotContains(t, r.out, "\n  -dry-run", "kubectl's --flags, not Go's -flags")
	h := run(t, spec, []string{"-h"}, nil)
	assert.Equal(t, ExitOK, h.code)
	assert.Equal(t, r.out, h.out, "-h is --help")
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r = run(t, spec, args, nil)
		assert.Equal(t, ExitOK, r.code)
		assert.Regexp(t, `^demo-job dev \(commit \S+, go1\.\d+`, r.out, args)
	}

	// A mistake is one line, and where to look.
	r = run(t, spec, []string{"--no-such-flag"}, nil)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Equal(t, "demo-job: unknown flag: --no-such-flag (see demo-job --help)\n", r.raw)
	r = run(t, spec, []string{"--max-actions=ten"}, nil)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.raw), "\n")+1, "one line: %s", r.raw)
	assert.Contains(t, r.raw, `invalid argument "ten" for "--max-actions"`)
}

func TestConsoleFormat(t *testing.T) {
	spec := Spec{Name: "demo-job", Run: func(_ context.Context, env *Env) error { env.Log.Info().Msg("hello people"); return nil }}
	r := run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--log-format=console"}, nil)
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.raw, "hello people")
	assert.Empty(t, r.logs, "console lines are not JSON")
}

func TestPushgatewayGetsTheRunSummary(t *testing.T) {
	type push struct {
		method, path string
		metrics      map[string]*dto.MetricFamily
	}
	pushes := make(chan push, 4)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := push{method: r.Method, path: r.URL.Path, metrics: map[string]*dto.MetricFamily{}}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); err != nil {
				break
			}
			p.metrics[mf.GetName()] = mf
		}
		pushes <- p
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()

	spec := Spec{Name: "demo-job", DefaultMaxActions: 1, Run: func(ctx context.Context, env *Env) error {
		own := prometheus.NewGauge(prometheus.GaugeOpts{Name: "demo_job_widgets", Help: "a job's own metric"})
		own.Set(7)
		env.Metrics.MustRegister(own)
		return env.Actuator.Apply(ctx, []actuator.Action{{Verb: "noop"}, {Verb: "noop"}}, func(context.Context, actuator.Action) error { return nil })
	}}
	r := run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--pushgateway-url", gw.URL}, nil)
	require.Equal(t, ExitOK, r.code, r.raw)
	p := <-pushes
	assert.Equal(t, http.MethodPost, p.method, "added to the group, not replacing it")
	assert.Equal(t, "/metrics/job/demo-job", p.path)
	byOutcome := map[string]float64{}
	for _, m := range p.metrics["akash_janitor_run_actions"].GetMetric() {
		byOutcome[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{"all": 2, "planned": 0, "done": 1, "skipped": 1, "failed": 0, "findings": 0}, byOutcome)
	assert.Equal(t, 1.0, p.metrics["akash_janitor_run_success"].GetMetric()[0].GetGauge().GetValue())
	assert.Contains(t, p.metrics, "akash_janitor_run_last_success_timestamp_seconds")
	assert.Equal(t, 7.0, p.metrics["demo_job_widgets"].GetMetric()[0].GetGauge().GetValue(), "the job's own metrics go along")

	// A failed run says so and leaves the last success time alone.
	failing := Spec{Name: "demo-job", Run: func(context.Context, *Env) error { return errors.New("boom") }}
	r = run(t, failing, []string{"--kubeconfig", kubeconfig(t), "--pushgateway-url", gw.URL}, nil)
	require.Equal(t, ExitFailed, r.code)
	p = <-pushes
	assert.Equal(t, 0.0, p.metrics["akash_janitor_run_success"].GetMetric()[0].GetGauge().GetValue())
	assert.NotContains(t, p.metrics, "akash_janitor_run_last_success_timestamp_seconds")

	// An unreachable gateway is a warning, not a failed run.
	gw.Close()
	r = run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--pushgateway-url", gw.URL}, nil)
	assert.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.raw, "could not push the run summary")

	r = run(t, spec, []string{"--kubeconfig", kubeconfig(t), "--pushgateway-url", "pushgateway:9091"}, nil)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.raw, `--pushgateway-url=\"pushgateway:9091\": want http(s)://host:port`)
}

// BadInput keeps what it wraps: a caller can still ask what went wrong.
func TestBadInputKeepsTheChain(t *testing.T) {
	cause := fmt.Errorf("read key: %w", os.ErrNotExist)
	err := BadInput("--key-file: %w (nothing was done)", cause)
	assert.ErrorIs(t, err, ErrBadInput)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, "bad input: --key-file: read key: file does not exist (nothing was done)", err.Error())
}

// Unless GOGC is set, a job collects garbage at DefaultGOGC; with GOGC set,
// Go's own reading of it stands.
func TestGarbageCollectorTarget(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	spec := Spec{Name: "gc", Run: func(context.Context, *Env) error { return nil }}
	if _, set := os.LookupEnv("GOGC"); set {
		t.Setenv("GOGC", "")
		os.Unsetenv("GOGC")
	}
	debug.SetGCPercent(100)
	require.Equal(t, 0, run(t, spec, []string{"--kubeconfig", kubeconfig(t)}, nil).code)
	assert.Equal(t, DefaultGOGC, debug.SetGCPercent(100))

	t.Setenv("GOGC", "100")
	require.Equal(t, 0, run(t, spec, []string{"--kubeconfig", kubeconfig(t)}, nil).code)
	assert.Equal(t, 100, debug.SetGCPercent(100))
}

// The pause switch: a ConfigMap there pauses, one absent does not, one that
// cannot be read pauses too (the job cannot tell whether it may act).
func TestPauseSwitchFailsClosed(t *testing.T) {
	status := http.StatusNotFound
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v1/namespaces/akash-services/configmaps/akash-janitor-pause", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		switch status {
		case http.StatusOK:
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"akash-janitor-pause","namespace":"akash-services"},"data":{"reason":"upgrade"}}`)
		case http.StatusNotFound:
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`)
		default:
			fmt.Fprint(w, `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Forbidden","message":"configmaps \"akash-janitor-pause\" is forbidden","code":403}`)
		}
	}))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	sw := PauseSwitch{Namespace: "akash-services", ConfigMap: "akash-janitor-pause"}
	ctx := context.Background()

	assert.Empty(t, sw.reason(ctx, client), "no ConfigMap: not paused")
	status = http.StatusOK
	assert.Equal(t, "ConfigMap akash-services/akash-janitor-pause is there (upgrade); delete it to resume", sw.reason(ctx, client))
	status = http.StatusForbidden
	assert.Contains(t, sw.reason(ctx, client), "cannot be read, so the job holds every action")
	assert.Contains(t, sw.reason(ctx, client), "forbidden")
	assert.Empty(t, PauseSwitch{}.reason(ctx, client), "no namespace: no switch to read")
	assert.Contains(t, PauseSwitch{Paused: true}.reason(ctx, client), "--paused")
}
