package pricing

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
)

// The differential test: every case in testdata/script_golden.json was run
// through the akash-provider chart's price_script_generic.sh (its newest
// public version, with uact), and its stdout, stderr and exit code
// recorded. This package must answer each the same way. To record again,
// with jq, bc and mawk installed and a copy of the script (never committed):
//
//	go test ./lib/pricing -run TestScriptGoldens -record /path/to/price_script_generic.sh
var record = flag.String("record", "", "path of price_script_generic.sh: run it on every case and rewrite the golden file")

const goldenPath = "testdata/script_golden.json"

type goldenCase struct {
	Name   string            `json:"name"`
	Env    map[string]string `json:"env"`
	AKTUSD string            `json:"akt_usd"`
	Input  json.RawMessage   `json:"input"`
	Stdout string            `json:"stdout"`
	Stderr string            `json:"stderr"`
	Exit   int               `json:"exit"`
}

type goldenFile struct {
	Script string       `json:"script"`
	Cases  []goldenCase `json:"cases"`
}

func TestScriptGoldens(t *testing.T) {
	if *record != "" {
		recordGoldens(t, *record)
	}
	b, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	var g goldenFile
	require.NoError(t, json.Unmarshal(b, &g))
	require.GreaterOrEqual(t, len(g.Cases), 300)
	t.Logf("%d cases recorded from %s", len(g.Cases), g.Script)
	kinds := map[string]int{} // by denom and outcome: the set must cover them all
	for _, c := range g.Cases {
		lookup := func(k string) (string, bool) { v, ok := c.Env[k]; return v, ok }
		akt := MustDec(c.AKTUSD)
		got := AnswerScript(c.Input, lookup, akt)
		if !assert.Equal(t, c.Exit, got.Exit, "%s: exit\ninput %s\nenv %v\nstderr %q", c.Name, c.Input, c.Env, got.Stderr) {
			continue
		}
		assert.Equal(t, c.Stdout, got.Stdout, "%s: stdout\ninput %s\nenv %v", c.Name, c.Input, c.Env)
		assert.Equal(t, c.Stderr, got.Stderr, "%s: stderr\ninput %s\nenv %v", c.Name, c.Input, c.Env)
		denom := "legacy"
		if o, err := ParseOrder(c.Input); err == nil && o.Price != nil {
			denom = o.Price.Denom
		}
		switch {
		case c.Exit == 0:
			kinds[denom+" priced"]++
		case strings.HasPrefix(c.Stderr, "requested rate is too low"):
			kinds[denom+" too low"]++
		default:
			kinds[denom+" refused"]++
		}
	}
	t.Logf("cases: %v", kinds)
	for _, denom := range []string{DenomAKT, DenomACT, DenomUSDCMainnet, DenomUSDCSandbox} {
		assert.Greater(t, kinds[denom+" priced"], 10, denom)
		assert.Greater(t, kinds[denom+" too low"], 10, denom)
	}
	assert.Greater(t, kinds["legacy priced"], 50)
	assert.Greater(t, kinds["uatom refused"], 10)
}

// recordGoldens runs the script on generated cases and writes the golden
// file.
func recordGoldens(t *testing.T, script string) {
	t.Helper()
	body, err := os.ReadFile(script)
	require.NoError(t, err)
	version := "unknown version"
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "# Version:") {
			version = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		}
	}
	g := goldenFile{Script: "akash-provider chart price_script_generic.sh (" + version + ", with uact)"}
	for _, c := range generateCases() {
		// The script reads AKT's price from its one-hour cache file.
		require.NoError(t, os.WriteFile("/tmp/aktprice.cache", []byte(c.AKTUSD+"\n"), 0o644))
		now := time.Now()
		require.NoError(t, os.Chtimes("/tmp/aktprice.cache", now, now))
		cmd := exec.Command("bash", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		for k, v := range c.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdin = bytes.NewReader(c.Input)
		c.Stdout, c.Stderr, c.Exit = jobtest.Output(t, cmd)
		g.Cases = append(g.Cases, c)
	}
	out, err := json.MarshalIndent(g, "", " ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(goldenPath, append(out, '\n'), 0o644))
	t.Logf("recorded %d cases", len(g.Cases))
}

// generateCases makes the differential cases: well-defined orders of every
// shape the provider sends, under several targets, mappings and AKT prices.
func generateCases() []goldenCase {
	rng := rand.New(rand.NewSource(20261122))
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	envs := []map[string]string{
		{},
		{"PRICE_TARGET_GPU_MAPPINGS": "a100=120,t4=80,a100.40Gi=900,a100.80Gi.sxm=1000"},
		{"PRICE_TARGET_CPU": "2.5", "PRICE_TARGET_MEMORY": "0.35", "PRICE_TARGET_HD_EPHEMERAL": "0.011", "PRICE_TARGET_HD_PERS_HDD": "0.007",
			"PRICE_TARGET_HD_PERS_SSD": "0.055", "PRICE_TARGET_HD_PERS_NVME": "0.1", "PRICE_TARGET_ENDPOINT": "0.5", "PRICE_TARGET_IP": "3.75",
			"PRICE_TARGET_GPU_MAPPINGS": "*=130,h100=2000,rtx4090=150.50,mi300x.192Gi=1500"},
		{"PRICE_TARGET_CPU": "", "PRICE_TARGET_MEMORY": "", "PRICE_TARGET_GPU_MAPPINGS": "t4=55,t4.16Gi.pcie=60,A100=70"},
	}
	akts := []string{"3.17", "0.5", "1.2345678901", "100"}
	gpus := []string{"", "a100", "t4", "h100", "rtx4090", "mi300x"}
	memories := []int64{134217728, 536870912, 1073741824, 1610612736, 3000000000, 17179869184, 131072}
	sizes := []int64{1073741824, 10737418240, 1000000000, 536870912, 107374182400}
	var cases []goldenCase
	for i := 0; i < 320; i++ {
		n := 1 + rng.Intn(3)
		var resources []map[string]any
		for j := 0; j < n; j++ {
			r := map[string]any{
				"cpu":    []int{100, 250, 500, 1000, 1500, 4000, 32000}[rng.Intn(7)],
				"memory": memories[rng.Intn(len(memories))],
				"count":  1 + rng.Intn(3),
			}
			storage := []map[string]any{{"class": "ephemeral", "size": sizes[rng.Intn(len(sizes))]}}
			if rng.Intn(2) == 0 {
				storage = append(storage, map[string]any{"class": pick("beta1", "beta2", "beta3", "default", "ram"), "size": sizes[rng.Intn(len(sizes))]})
			}
			r["storage"] = storage
			if rng.Intn(2) == 0 {
				r["endpoint_quantity"] = rng.Intn(4)
			}
			if rng.Intn(4) == 0 {
				r["ip_lease_quantity"] = rng.Intn(3)
			}
			if model := gpus[rng.Intn(len(gpus))]; model != "" {
				attrs := map[string]any{"model": model}
				if ram := pick("", "", "16Gi", "40Gi", "80Gi", "192Gi"); ram != "" {
					attrs["ram"] = ram
				}
				if iface := pick("", "", "pcie", "sxm"); iface != "" {
					attrs["interface"] = iface
				}
				vendor := "nvidia"
				if model == "mi300x" {
					vendor = "amd"
				}
				r["gpu"] = map[string]any{"units": 1 + rng.Intn(8), "attributes": map[string]any{"vendor": map[string]any{vendor: attrs}}}
			} else {
				r["gpu"] = map[string]any{"units": 0}
			}
			resources = append(resources, r)
		}
		var input any = resources
		form := "legacy"
		if rng.Intn(5) != 0 {
			denom := pick("uakt", "uakt", "uact", DenomUSDCMainnet, DenomUSDCSandbox, "uatom")
			amount := pick("1000000", "5000.5", "0.001", "12.345678", "1")
			order := map[string]any{"resources": resources, "price": map[string]any{"denom": denom, "amount": amount}}
			if p := rng.Intn(5); p > 0 {
				order["price_precision"] = []int{0, 2, 6, 10, 18}[rng.Intn(5)]
			}
			input, form = order, denom
		}
		raw, _ := json.Marshal(input)
		env := envs[rng.Intn(len(envs))]
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		cases = append(cases, goldenCase{
			Name:   fmt.Sprintf("%03d %s, %d groups, env %v", i, form, n, keys),
			Env:    env,
			AKTUSD: akts[rng.Intn(len(akts))],
			Input:  raw,
		})
	}
	return cases
}
