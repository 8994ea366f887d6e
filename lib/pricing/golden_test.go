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
	// Ours, when set, is where bid-price departs from the script on
	// purpose: the script bid a wrong price (0, negative, a name read as 0)
	// and we refuse, with a message holding Ours.Stderr.
	Ours *departure `json:"ours,omitempty"`
}

type departure struct {
	Exit   int    `json:"exit"`
	Stderr string `json:"stderr_contains"`
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
	require.GreaterOrEqual(t, len(g.Cases), 350)
	t.Logf("%d cases recorded from %s", len(g.Cases), g.Script)
	kinds := map[string]int{} // by denom and outcome: the set must cover them all
	for _, c := range g.Cases {
		lookup := func(k string) (string, bool) { v, ok := c.Env[k]; return v, ok }
		akt := MustDec(c.AKTUSD)
		got := AnswerScript(c.Input, lookup, akt)
		if c.Ours != nil {
			assert.Equal(t, c.Ours.Exit, got.Exit, "%s: exit (a departure)\nstderr %q", c.Name, got.Stderr)
			assert.Contains(t, got.Stderr, c.Ours.Stderr, "%s: stderr (a departure)", c.Name)
			kinds["refused where the script misprices"]++
			continue
		}
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
	assert.GreaterOrEqual(t, kinds["refused where the script misprices"], 20)
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
	for _, c := range append(generateCases(), spellingCases()...) {
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

// spellingCases are the ways operators write prices: each spelling the
// script's bc reads as a number (a leading or trailing point, blanks) must be
// priced as the script prices it; each it misreads (a '+' that makes bc fail
// and the bid 0, a negative, a word or a lone point read as 0, a hex digit,
// a blank) is refused, naming the variable and the pair.
func spellingCases() []goldenCase {
	orders := map[string]string{
		"gpu uakt":   `{"price":{"denom":"uakt","amount":"1000000"},"resources":[{"cpu":1000,"memory":1073741824,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"endpoint_quantity":1,"ip_lease_quantity":1,"gpu":{"units":2,"attributes":{"vendor":{"nvidia":{"model":"a100"}}}}},{"cpu":500,"memory":536870912,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"rtx4090","ram":"24Gi"}}}}}]}`,
		"gpu uact":   `{"price":{"denom":"uact","amount":"1000000"},"resources":[{"cpu":2000,"memory":2147483648,"count":2,"storage":[{"class":"ephemeral","size":10737418240},{"class":"beta3","size":10737418240}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"a100"}}}}}]}`,
		"cpu legacy": `[{"cpu":4000,"memory":8589934592,"count":1,"storage":[{"class":"ephemeral","size":10737418240}],"endpoint_quantity":2,"ip_lease_quantity":1,"gpu":{"units":0}}]`,
	}
	type spelling struct {
		key, value string
		refused    string // empty: priced as the script prices it
	}
	spellings := []spelling{
		{"PRICE_TARGET_GPU_MAPPINGS", "rtx4090=.5", ""},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100= 75", ""},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=75 ", ""},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=75.", ""},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=\t075.50\t,rtx4090= .5 ", ""},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=+75", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=+75": price "+75" starts with '+'`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=-5", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=-5": price "-5" is negative`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=lots", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=lots": price "lots" is not a number`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=.", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=.": price "." is a lone point`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=A", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=A": price "A" is not a decimal number (bc reads uppercase`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100= ", `PRICE_TARGET_GPU_MAPPINGS: pair "a100= ": price " " is blank`},
		{"PRICE_TARGET_GPU_MAPPINGS", "a100=1.2.3", `PRICE_TARGET_GPU_MAPPINGS: pair "a100=1.2.3": price "1.2.3" is not a decimal number`},
		{"PRICE_TARGET_CPU", ".5", ""},
		{"PRICE_TARGET_CPU", " 1.6", ""},
		{"PRICE_TARGET_CPU", "1.6 ", ""},
		{"PRICE_TARGET_CPU", "2.", ""},
		{"PRICE_TARGET_CPU", "007", ""},
		{"PRICE_TARGET_MEMORY", ".35", ""},
		{"PRICE_TARGET_IP", " 5 ", ""},
		{"PRICE_TARGET_ENDPOINT", ".05", ""},
		{"PRICE_TARGET_HD_EPHEMERAL", "0.", ""},
		{"PRICE_TARGET_CPU", "+1.6", `PRICE_TARGET_CPU: "+1.6" starts with '+'`},
		{"PRICE_TARGET_CPU", "-1", `PRICE_TARGET_CPU: "-1" is negative`},
		{"PRICE_TARGET_CPU", "cheap", `PRICE_TARGET_CPU: "cheap" is not a number`},
		{"PRICE_TARGET_CPU", ".", `PRICE_TARGET_CPU: "." is a lone point`},
		{"PRICE_TARGET_CPU", " ", `PRICE_TARGET_CPU: " " is blank`},
		{"PRICE_TARGET_MEMORY", "0,80", `PRICE_TARGET_MEMORY: "0,80" is not a decimal number`},
	}
	names := make([]string, 0, len(orders))
	for n := range orders {
		names = append(names, n)
	}
	sort.Strings(names)
	var cases []goldenCase
	for i, sp := range spellings {
		for _, n := range names {
			c := goldenCase{
				Name:   fmt.Sprintf("spelling %02d %s=%q, %s", i, sp.key, sp.value, n),
				Env:    map[string]string{sp.key: sp.value},
				AKTUSD: "3.17",
				Input:  json.RawMessage(orders[n]),
			}
			if sp.refused != "" {
				c.Ours = &departure{Exit: 1, Stderr: sp.refused}
			}
			cases = append(cases, c)
		}
	}
	return cases
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
