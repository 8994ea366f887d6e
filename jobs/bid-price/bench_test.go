package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
)

// A typical GPU order: three groups, one with GPUs, priced in uakt.
var benchOrder = []byte(`{"price":{"denom":"uakt","amount":"100000"},"price_precision":6,"resources":[
 {"cpu":4000,"memory":17179869184,"count":1,"storage":[{"class":"ephemeral","size":107374182400},{"class":"beta3","size":536870912000}],
  "endpoint_quantity":2,"gpu":{"units":2,"attributes":{"vendor":{"nvidia":{"model":"a100","ram":"80Gi","interface":"sxm"}}}}},
 {"cpu":500,"memory":1073741824,"count":3,"storage":[{"class":"ephemeral","size":10737418240}],"endpoint_quantity":1,"gpu":{"units":0}},
 {"cpu":250,"memory":536870912,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"ip_lease_quantity":1,"gpu":{"units":0}}]}`)

var benchEnv = map[string]string{"PRICE_TARGET_GPU_MAPPINGS": "a100=120,t4=80,a100.40Gi=900,a100.80Gi.sxm=1000", "AKT_PRICE_USD": "3.17"}

func benchConfig(b *testing.B) *config {
	cfg, err := loadConfig(func(k string) (string, bool) { v, ok := benchEnv[k]; return v, ok }, false)
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkBidPrice: quotes a second in process and over HTTP, and the
// drop-in CLI's wall time per quote; with BENCH_PRICE_SCRIPT set to a copy
// of price_script_generic.sh (and jq, bc, mawk installed), the script's on
// the same order beside it.
//
//	make bench
func BenchmarkBidPrice(b *testing.B) {
	cfg := benchConfig(b)
	akt := pricing.MustDec("3.17")
	b.Run("in-process", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			o, err := pricing.ParseOrder(benchOrder)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cfg.targets.Quote(o, akt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
	})
	b.Run("http", func(b *testing.B) {
		s := &server{log: zerolog.Nop(), metrics: newServerMetrics(), loaded: make(chan struct{}, 1)}
		s.cfg.Store(cfg)
		srv := httptest.NewServer(s.handler())
		defer srv.Close()
		client := srv.Client()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(srv.URL+"/v1/price", "application/json", bytes.NewReader(benchOrder))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("POST: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
	})
	b.Run("cli", func(b *testing.B) {
		bin := jobtest.Build(b, ".")
		for i := 0; i < b.N; i++ {
			ms := timeRun(b, exec.Command(bin), "")
			b.ReportMetric(ms, "ms/quote")
		}
	})
	if script := os.Getenv("BENCH_PRICE_SCRIPT"); script != "" {
		b.Run("script", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ms := timeRun(b, exec.Command("bash", script), "3.17")
				b.ReportMetric(ms, "ms/quote")
			}
		})
	}
}

// timeRun runs one quote and returns its wall time in milliseconds.
func timeRun(b *testing.B, cmd *exec.Cmd, scriptCache string) float64 {
	b.Helper()
	if scriptCache != "" {
		if err := os.WriteFile("/tmp/aktprice.cache", []byte(scriptCache+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + b.TempDir()}
	for k, v := range benchEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader(benchOrder)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return float64(time.Since(start).Microseconds()) / 1000
}
