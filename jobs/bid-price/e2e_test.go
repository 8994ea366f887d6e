package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const gpuLabel = "akash.network/capabilities.gpu.vendor.nvidia.model."

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(
		kubetest.Node{Name: "gpu-a100", CPU: "32", Memory: "256Gi", GPU: 8, Labels: map[string]string{
			gpuLabel + "a100": "8", gpuLabel + "a100.ram.80Gi": "8", gpuLabel + "a100.interface.sxm4": "8"}},
		kubetest.Node{Name: "gpu-4090", CPU: "16", Memory: "64Gi", GPU: 2, Labels: map[string]string{
			gpuLabel + "rtx4090": "2", gpuLabel + "rtx4090.ram.24Gi": "2"}},
		kubetest.Node{Name: "cpu-1", CPU: "16", Memory: "64Gi"},
	))
}

type golden struct {
	Cases []struct {
		Name   string            `json:"name"`
		Env    map[string]string `json:"env"`
		AKTUSD string            `json:"akt_usd"`
		Input  json.RawMessage   `json:"input"`
		Stdout string            `json:"stdout"`
		Stderr string            `json:"stderr"`
		Exit   int               `json:"exit"`
		Ours   *struct {
			Exit   int    `json:"exit"`
			Stderr string `json:"stderr_contains"`
		} `json:"ours"`
	} `json:"cases"`
}

func goldens(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("../../lib/pricing/testdata/script_golden.json")
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(b, &g))
	return g
}

func runCLI(t *testing.T, env map[string]string, stdin []byte) (string, string, int) {
	t.Helper()
	return runCLIIn(t, t.TempDir(), env, stdin)
}

// runCLIIn runs the drop-in, bid-price-script, with tmp as its TMPDIR:
// runs in one tmp are runs on one machine, sharing its AKT price file.
func runCLIIn(t *testing.T, tmp string, env map[string]string, stdin []byte) (string, string, int) {
	t.Helper()
	return runBinary(t, "./bid-price-script", tmp, env, stdin)
}

func runBinary(t *testing.T, pkg, tmp string, env map[string]string, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(jobtest.Build(t, pkg), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader(stdin)
	return jobtest.Output(t, cmd)
}

// Both drop-ins, bid-price-script and bid-price with no arguments, run as
// the provider runs its script, answer the recorded orders as the script
// did (one in ten, for time).
func TestDropInAnswersAsTheScript(t *testing.T) {
	g := goldens(t)
	for i, c := range g.Cases {
		if i%10 != 0 {
			continue
		}
		env := map[string]string{"AKT_PRICE_USD": c.AKTUSD}
		for k, v := range c.Env {
			env[k] = v
		}
		pkg := []string{"./bid-price-script", "."}[i/10%2]
		stdout, stderr, code := runBinary(t, pkg, t.TempDir(), env, c.Input)
		if c.Ours != nil {
			// Where the script misprices, the drop-in refuses.
			assert.Equal(t, c.Ours.Exit, code, c.Name)
			assert.Contains(t, stderr, c.Ours.Stderr, c.Name)
			assert.Empty(t, stdout, c.Name)
			continue
		}
		assert.Equal(t, c.Exit, code, c.Name)
		assert.Equal(t, c.Stdout, stdout, c.Name)
		assert.Equal(t, c.Stderr, stderr, c.Name)
	}
}

// bid-price-script starts fast because it carries only the pricing: a
// client library pulled into it would be paid on every order.
func TestDropInBinaryIsSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./bid-price-script").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		for _, heavy := range []string{"k8s.io/", "github.com/cosmos/", "github.com/prometheus/"} {
			assert.False(t, strings.HasPrefix(dep, heavy), "bid-price-script imports %s", dep)
		}
	}
	stdout, stderr, code := runBinary(t, "./bid-price-script", t.TempDir(), nil, nil, "serve")
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `takes no arguments (got ["serve"])`)
	stdout, _, code = runBinary(t, "./bid-price-script", t.TempDir(), nil, nil, "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout, "bid-price-script "), stdout)
}

func TestDropInAKTPriceSources(t *testing.T) {
	order := []byte(`{"price":{"denom":"uakt","amount":"1000"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,"storage":[{"class":"ephemeral","size":1073741824}]}]}`)
	dia := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"Symbol":"AKT","Price":2.5}`)
	}))
	defer dia.Close()
	stdout, stderr, code := runCLI(t, map[string]string{"AKT_DIA_URL": dia.URL, "AKT_COINGECKO_URL": "http://127.0.0.1:1"}, order)
	require.Equal(t, 0, code, stderr)
	// $2.42 a month / 2.5 USD per AKT * 10^6 / 429909 blocks.
	assert.Equal(t, "2.251639", stdout)

	dia.Close()
	_, stderr, code = runCLI(t, map[string]string{"AKT_DIA_URL": dia.URL, "AKT_COINGECKO_URL": "http://127.0.0.1:1"}, order)
	assert.Equal(t, 1, code, "no source, no cached price: refused, never a bid of 0")
	assert.Contains(t, stderr, "no AKT price")

	// A USD denom needs no AKT price at all.
	usd := bytes.Replace(order, []byte(`"uakt"`), []byte(`"uact"`), 1)
	stdout, _, code = runCLI(t, map[string]string{"AKT_DIA_URL": dia.URL, "AKT_COINGECKO_URL": "http://127.0.0.1:1"}, usd)
	assert.Equal(t, 0, code)
	assert.Equal(t, "5.629098", stdout)

	_, stderr, code = runCLI(t, map[string]string{"PRICE_TARGET_GPU_MAPPINGS": "a100=lots"}, order)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `PRICE_TARGET_GPU_MAPPINGS: pair "a100=lots"`)
}

// The operator's static price always wins: two runs on one machine, the
// second with a new price, price with the new one; a price cached from one
// set of sources is not used by another.
func TestDropInStaticPriceAndCacheAcrossRuns(t *testing.T) {
	order := []byte(`{"price":{"denom":"uakt","amount":"1000"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,"storage":[{"class":"ephemeral","size":1073741824}]}]}`)
	machine := t.TempDir()
	quote := func(env map[string]string) string {
		t.Helper()
		stdout, stderr, code := runCLIIn(t, machine, env, order)
		require.Equal(t, 0, code, stderr)
		return stdout
	}
	// $2.42 a month / AKT price * 10^6 / 429909 blocks.
	assert.Equal(t, "2.251639", quote(map[string]string{"AKT_PRICE_USD": "2.5"}))
	assert.Equal(t, "11.258197", quote(map[string]string{"AKT_PRICE_USD": "0.5"}), "the new static price, not the first run's")
	_, err := os.Stat(filepath.Join(machine, "akash-janitor-akt-price.json"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a static price writes no cache")

	serveAt := func(body string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }))
		t.Cleanup(s.Close)
		return s
	}
	cg := serveAt(`{"akash-network":{"usd":2.5}}`)
	dia := serveAt(`{"Symbol":"AKT","Price":0.5}`)
	byCG := map[string]string{"AKT_PRICE_SOURCES": "coingecko", "AKT_COINGECKO_URL": cg.URL}
	assert.Equal(t, "2.251639", quote(byCG))
	assert.Equal(t, "11.258197", quote(map[string]string{"AKT_PRICE_USD": "0.5"}), "a cached price never beats the static one")
	cg.Close()
	assert.Equal(t, "2.251639", quote(byCG), "CoinGecko down: its own cached price is used")
	assert.Equal(t, "11.258197", quote(map[string]string{"AKT_PRICE_SOURCES": "dia", "AKT_DIA_URL": dia.URL}),
		"sources=dia asks DIA, never CoinGecko's cached price")

	// A corrupt price file is ignored, said at debug, and replaced.
	require.NoError(t, os.WriteFile(filepath.Join(machine, "akash-janitor-akt-price.json"), []byte("{garbage"), 0o644))
	cg2 := serveAt(`{"akash-network":{"usd":1.25}}`)
	stdout, stderr, code := runCLIIn(t, machine, map[string]string{"AKT_PRICE_SOURCES": "coingecko", "AKT_COINGECKO_URL": cg2.URL, "BID_PRICE_LOG_LEVEL": "debug"}, order)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "4.503279", stdout)
	assert.Contains(t, stderr, "AKT price cache ignored: not JSON")
}

// The spellings operators write that the script's bc reads, the drop-in
// reads too, through the binary.
func TestDropInReadsThePricesTheScriptReads(t *testing.T) {
	order := []byte(`{"price":{"denom":"uact","amount":"1000000"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"rtx4090"}}}}}]}`)
	half, stderr, code := runCLI(t, map[string]string{"PRICE_TARGET_GPU_MAPPINGS": "rtx4090=.5"}, order)
	require.Equal(t, 0, code, stderr)
	same, _, _ := runCLI(t, map[string]string{"PRICE_TARGET_GPU_MAPPINGS": "rtx4090= 0.5 "}, order)
	assert.Equal(t, half, same)
	_, stderr, code = runCLI(t, map[string]string{"PRICE_TARGET_GPU_MAPPINGS": "rtx4090=+75"}, order)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `PRICE_TARGET_GPU_MAPPINGS: pair "rtx4090=+75": price "+75" starts with '+'`)
}

// startServe runs `bid-price serve` against the cluster and returns its URL.
func startServe(t *testing.T, c *kubetest.Cluster, namespace string, extra ...string) (string, *bytes.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cmd := exec.Command(jobtest.Build(t, "."), append([]string{"serve", "--kubeconfig", c.KubeconfigPath, "--namespace", namespace,
		"--configmap", "pricing", "--listen", addr}, extra...)...)
	logs := &bytes.Buffer{}
	logFile := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logFile)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b, _ := os.ReadFile(logFile)
		logs.Write(b)
		t.Logf("bid-price serve log:\n%s", b)
	})
	url := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 100*time.Millisecond, "the service never loaded its ConfigMap")
	return url, logs
}

func post(t *testing.T, url, owner string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/price", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Akash-Owner", owner)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func metricsOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestServiceReloadsItsConfigMapAndAudits(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	ns := "bid-price-test"
	_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pricing", Namespace: ns}, Data: map[string]string{
		"PRICE_TARGET_CPU": "1.60", "PRICE_TARGET_GPU_MAPPINGS": "a100=900", "AKT_PRICE_USD": "2.5"}}
	_, err = c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	require.NoError(t, err)
	url, _ := startServe(t, c, ns)

	gpuOrder := []byte(`{"price":{"denom":"uact","amount":"100000"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,
		"storage":[{"class":"ephemeral","size":1073741824}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"a100","ram":"80Gi"}}}}}]}`)
	// The GPU audit of this configuration (a100 only): the rtx4090 nodes
	// would be priced at the fallback.
	unmapped := `akash_janitor_bid_price_gpu_unmapped{key="rtx4090.24Gi"} 1`
	require.Eventually(t, func() bool { return strings.Contains(metricsOf(t, url), unmapped) }, 30*time.Second, 100*time.Millisecond)

	code, body := post(t, url, "akash1tenant", gpuOrder)
	require.Equal(t, 200, code, body)
	// ($2.42 + $900) a month / 429909 blocks * 10^6.
	assert.Equal(t, "2099.095390", body)

	// The operator raises the a100 price: the service follows, no restart.
	cm.Data["PRICE_TARGET_GPU_MAPPINGS"] = "a100=1200,rtx4090=300"
	_, err = c.Kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, body := post(t, url, "akash1tenant", gpuOrder)
		return body == "2796.917487"
	}, 30*time.Second, 100*time.Millisecond)

	// A broken edit is refused and the last good configuration stays.
	cm.Data["PRICE_TARGET_CPU"] = "one dollar sixty"
	_, err = c.Kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(metricsOf(t, url), `akash_janitor_bid_price_config_reloads_total{result="error"} 1`)
	}, 30*time.Second, 100*time.Millisecond)
	_, body = post(t, url, "akash1tenant", gpuOrder)
	assert.Equal(t, "2796.917487", body)

	// Refusals: 422 with the reason the provider logs; garbage: 400.
	code, body = post(t, url, "akash1tenant", bytes.Replace(gpuOrder, []byte(`"100000"`), []byte(`"1"`), 1))
	assert.Equal(t, 422, code)
	assert.Equal(t, "requested rate is too low. min expected 2796.917487uact", body)
	code, body = post(t, url, "akash1tenant", []byte(`{"price":{"denom":"uakt"`))
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "order:")

	m := metricsOf(t, url)
	hasMetric := func(line string) { assert.True(t, strings.Contains(m, line), "metrics lack %s", line) }
	hasMetric(`akash_janitor_bid_price_quotes_total{denom="uact",result="priced"}`)
	hasMetric(`akash_janitor_bid_price_refusals_total{reason="too_low"} 1`)
	hasMetric(`akash_janitor_bid_price_refusals_total{reason="bad_order"} 1`)
	hasMetric(`akash_janitor_bid_price_gpu_quotes_total{mapping="a100"}`)
	assert.Eventually(t, func() bool { return !strings.Contains(metricsOf(t, url), "gpu_unmapped{") },
		30*time.Second, 100*time.Millisecond, "rtx4090 has a mapping now: the audit after the reload says so")
}

func TestAuditCommand(t *testing.T) {
	c := kubetest.Shared(t)
	cmd := exec.Command(jobtest.Build(t, "."), "audit", "--kubeconfig", c.KubeconfigPath, "--namespace", "default", "--from-env", "--fail-on-unmapped")
	cmd.Env = append(os.Environ(), "PRICE_TARGET_GPU_MAPPINGS=a100=900,t4=80")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "an unmapped GPU fails with --fail-on-unmapped")
	assert.Equal(t, "rtx4090.24Gi: no mapping, priced at the fallback 900 USD a month; on [gpu-4090]\n", string(out))

	cmd = exec.Command(jobtest.Build(t, "."), "audit", "--kubeconfig", c.KubeconfigPath, "--namespace", "default", "--from-env")
	cmd.Env = append(os.Environ(), "PRICE_TARGET_GPU_MAPPINGS=a100.80Gi=900,rtx4090=300")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "every GPU on the nodes has a price mapping\n", string(out))
}
