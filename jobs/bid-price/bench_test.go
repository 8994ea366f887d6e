package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sync"
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

func benchConfig(b *testing.B) *pricing.Config {
	cfg, err := pricing.LoadConfig(func(k string) (string, bool) { v, ok := benchEnv[k]; return v, ok }, false)
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
			if _, err := cfg.Targets.Quote(o, akt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
	})
	b.Run("http-32-at-once", func(b *testing.B) {
		// The chart's script for the provider posts each order to the
		// service: 32 at once, the 99th percentile of the answers.
		srv := benchServer(b, cfg)
		client := srv.Client()
		b.ResetTimer()
		lat := atOnce(b, func() time.Duration {
			t0 := time.Now()
			resp, err := client.Post(srv.URL+"/v1/price", "application/json", bytes.NewReader(benchOrder))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("POST: %v %v", err, resp)
				return 0
			}
			resp.Body.Close()
			return time.Since(t0)
		})
		b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
	})
	b.Run("http", func(b *testing.B) {
		srv := benchServer(b, cfg)
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
	// The drop-in's wall time per quote, as the provider pays it: a process
	// started, fed the order, waited for.
	o, err := pricing.ParseOrder(benchOrder)
	if err != nil {
		b.Fatal(err)
	}
	q, err := cfg.Targets.Quote(o, akt)
	if err != nil {
		b.Fatal(err)
	}
	want := q.Amount
	perQuote := map[string]float64{}
	quote := func(name string, cmd func() *exec.Cmd, scriptCache string) {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += timeRun(b, cmd(), scriptCache, want)
			}
			ms := float64(total.Microseconds()) / 1000 / float64(b.N)
			perQuote[name] = ms
			b.ReportMetric(ms, "ms/quote")
		})
	}
	small := jobtest.Build(b, "./bid-price-script")
	quote("cli", func() *exec.Cmd { return exec.Command(small) }, "")
	// As the provider runs it: up to 32 scripts at once
	// (--bid-price-script-process-limit), each within 10 s
	// (--bid-price-script-process-timeout; provider
	// cmd/provider-services/cmd/flags.go). The 99th percentile of the
	// drop-in's wall time, 32 quotes at a time, on this machine's cores.
	b.Run("cli-32-at-once", func(b *testing.B) {
		lat := atOnce(b, func() time.Duration { return timeRun(b, exec.Command(small), "", want) })
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		fmt.Printf("bid-price: bid-price-script, %d at once: p50 %.1f ms, p99 %.1f ms over %d quotes (the provider's limit: 10 s)\n",
			providerScriptLimit, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, len(lat))
	})
	full := jobtest.Build(b, ".")
	quote("cli-bid-price", func() *exec.Cmd { return exec.Command(full) }, "")
	script := os.Getenv("BENCH_PRICE_SCRIPT")
	if script == "" {
		fmt.Printf("bid-price: per quote: bid-price-script %.2f ms, bid-price %.2f ms (set BENCH_PRICE_SCRIPT to a copy of price_script_generic.sh, with jq, bc and mawk installed, for the script beside them)\n",
			perQuote["cli"], perQuote["cli-bid-price"])
		return
	}
	quote("script", func() *exec.Cmd { return exec.Command("bash", script) }, "3.17")
	fmt.Printf("bid-price: per quote: bid-price-script %.2f ms, bid-price %.2f ms, the script %.1f ms: %.0fx and %.0fx faster\n",
		perQuote["cli"], perQuote["cli-bid-price"], perQuote["script"],
		perQuote["script"]/perQuote["cli"], perQuote["script"]/perQuote["cli-bid-price"])
}

// timeRun runs one quote and returns its wall time.
func timeRun(b *testing.B, cmd *exec.Cmd, scriptCache, want string) time.Duration {
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
	wall := time.Since(start)
	if string(out) != want {
		b.Fatalf("%v priced %q, want %q", cmd.Args, out, want)
	}
	return wall
}

// providerScriptLimit is how many price scripts the provider runs at once
// (--bid-price-script-process-limit, provider cmd/provider-services/cmd/flags.go).
const providerScriptLimit = 32

// percentile is the p-th percentile of the durations (nearest rank).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)]
}

// benchServer serves bid-price's handler with cfg until the benchmark ends.
func benchServer(b *testing.B, cfg *pricing.Config) *httptest.Server {
	s := &server{log: zerolog.Nop(), metrics: newServerMetrics(), loaded: make(chan struct{}, 1)}
	s.cfg.Store(cfg)
	srv := httptest.NewServer(s.handler())
	b.Cleanup(srv.Close)
	return srv
}

// atOnce runs quote providerScriptLimit times at once, b.N times over, as
// the provider runs its price scripts, and returns each one's time.
func atOnce(b *testing.B, quote func() time.Duration) []time.Duration {
	var lat []time.Duration
	var mu sync.Mutex
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := 0; j < providerScriptLimit; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := quote()
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	return lat
}
