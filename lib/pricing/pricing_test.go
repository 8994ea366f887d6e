package pricing

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestGPUMappingsLookup(t *testing.T) {
	m, err := ParseGPUMappings("a100=120,t4=80,a100.40Gi=900,a100.80Gi.sxm=1000,*=130, h100 =50,x=")
	require.NoError(t, err)
	assert.Equal(t, "1000", m.Fallback.String(), "the largest of 100 and every price")
	for key, want := range map[string]struct{ price, matched string }{
		"a100.80Gi.sxm":  {"1000", "a100.80Gi.sxm"},
		"a100.80Gi.pcie": {"120", "a100"}, // neither a100.80Gi.pcie nor a100.80Gi; the bare model
		"a100.40Gi.sxm":  {"900", "a100.40Gi"},
		"a100.40Gi":      {"900", "a100.40Gi"},
		"t4":             {"80", "t4"},
		"T4":             {"1000", ""}, // keys are case-sensitive
		"h100":           {"1000", ""}, // " h100 " is another key: spaces count
		"x":              {"1000", ""}, // an empty price is no mapping
		"rtx4090":        {"1000", ""}, // "*" is not a wildcard, it raised the fallback
	} {
		price, matched := m.Lookup(key)
		assert.Equal(t, want.price, price.String(), key)
		assert.Equal(t, want.matched, matched, key)
	}

	_, err = ParseGPUMappings("a100=120,t4=cheap")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `pair "t4=cheap": price "cheap" is not a number (bc reads a name as 0`)
	_, err = ParseGPUMappings("a100=-5")
	assert.Error(t, err)

	m, err = GPUMappingsFromMap(map[string]string{"a100": "120", "t4": "80"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a100", "t4"}, m.Keys())
	_, err = GPUMappingsFromMap(map[string]string{"a,b": "1"})
	assert.ErrorContains(t, err, `GPU key "a,b"`)
}

func TestTargetsFromEnv(t *testing.T) {
	tg, err := TargetsFromEnv(env("PRICE_TARGET_CPU", "", "PRICE_TARGET_IP", "7.5"))
	require.NoError(t, err)
	assert.Equal(t, "1.6", tg.CPU.String(), "empty means the default")
	assert.Equal(t, "7.5", tg.IP.String())
	assert.Equal(t, "0.04", tg.NVMe.String())

	_, err = TargetsFromEnv(env("PRICE_TARGET_CPU", "1,60", "PRICE_TARGET_MEMORY", "-1", "PRICE_TARGET_GPU_MAPPINGS", "a=b"))
	require.Error(t, err)
	for _, want := range []string{`PRICE_TARGET_CPU: "1,60" is not`, `PRICE_TARGET_MEMORY: "-1" is negative`, `PRICE_TARGET_GPU_MAPPINGS: pair "a=b"`} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestParseOrderRejectsGarbageClearly(t *testing.T) {
	for input, want := range map[string]string{
		``:                 "empty input",
		`hello`:            `starts with 'h'`,
		`{"resources":[]}`: "no price",
		`{"price":"1uakt","resources":[{"cpu":1,"memory":1,"count":1,"storage":[]}]}`:   "price must be an object",
		`{"price":{"denom":"uakt","amount":"ten"},"resources":[]}`:                      `price.amount: "ten" is not`,
		`{"price":{"denom":"","amount":"1"},"resources":[{}]}`:                          "price.denom is empty",
		`{"price":{"denom":"uakt","amount":"1"},"resources":[]}`:                        "no resources",
		`{"price":{"denom":"uakt","amount":"1"},"price_precision":-1,"resources":[{}]}`: "price_precision",
		`[{"memory":1,"count":1,"storage":[]}]`:                                         "resources[0]: cpu is missing",
		`[{"cpu":-100,"memory":1,"count":1,"storage":[]}]`:                              "resources[0]: cpu: -100 is negative",
		`[{"cpu":"1e","memory":1,"count":1,"storage":[]}]`:                              `resources[0]: cpu: "1e" is not a number`,
		`[{"cpu":100,"memory":1,"count":1}]`:                                            "storage is missing",
		`[{"cpu":100,"memory":1,"count":1,"storage":[]}] trailing`:                      "trailing data after the JSON value",
		`[{"cpu":100,"memory":1,"count":"two","storage":[]}]`:                           "count",
	} {
		_, err := ParseOrder([]byte(input))
		if assert.Error(t, err, input) {
			assert.Contains(t, err.Error(), want, input)
		}
	}
}

func order(t *testing.T, s string) Order {
	t.Helper()
	o, err := ParseOrder([]byte(s))
	require.NoError(t, err)
	return o
}

func TestQuoteByHand(t *testing.T) {
	tg, err := TargetsFromEnv(env())
	require.NoError(t, err)
	// 2 threads, 4 GiB, 10 GiB ephemeral, 100 GiB beta3, one endpoint: $3.20
	// + $3.20 + $0.20 + $4.00 + $0.05 = $10.65 a month.
	o := order(t, `{"price":{"denom":"uact","amount":"100"},"resources":[{"cpu":2000,"memory":4294967296,"count":1,
		"storage":[{"class":"ephemeral","size":10737418240},{"class":"beta3","size":107374182400},{"class":"ram","size":1073741824}],
		"endpoint_quantity":1}]}`)
	q, err := tg.Quote(o, Dec{})
	require.NoError(t, err, "USD denoms need no AKT price")
	assert.Equal(t, "10.65", q.USDPerMonth.String())
	// 10.65 / 429909 blocks * 10^6 = 24.7726844... uact a block.
	assert.Equal(t, "24.772684", q.Amount)

	_, err = tg.Quote(order(t, `{"price":{"denom":"uakt","amount":"100"},"resources":[{"cpu":100,"memory":1,"count":1,"storage":[]}]}`), Dec{})
	assert.ErrorContains(t, err, "no AKT price")
}

func TestFixesAreOptIn(t *testing.T) {
	gpus := `{"price":{"denom":"uact","amount":"1000000"},"resources":[
		{"cpu":1000,"memory":1073741824,"count":2,"storage":[],"endpoint_quantity":1,"ip_lease_quantity":1,
		 "gpu":{"units":1,"attributes":{"vendor":{"amd":{"model":"mi300x","ram":"192Gi"}}}}},
		{"cpu":1000,"memory":1073741824,"count":1,"storage":[],
		 "gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"rtx4090"}}}}}]}`
	tg, err := TargetsFromEnv(env("PRICE_TARGET_GPU_MAPPINGS", "*=130,h100=2000,mi300x.192Gi=1500"))
	require.NoError(t, err)
	script, err := tg.Quote(order(t, gpus), Dec{})
	require.NoError(t, err)
	// The script: the AMD GPU is looked up as "mi300x" (fallback 2000) x 2,
	// the rtx4090 at the fallback 2000, endpoint and IP once.
	// cpu 3 x 1.6 + memory 3 x 0.8 + 2 x 2000 + 2000 + 0.05 + 5 = 6012.25
	assert.Equal(t, "6012.25", script.USDPerMonth.String())
	assert.Equal(t, []GPUPrice{
		{Key: "mi300x", Matched: "", Price: MustDec("2000"), Units: decInt(1), Count: decInt(2)},
		{Key: "rtx4090", Matched: "", Price: MustDec("2000"), Units: decInt(1), Count: decInt(1)},
	}, script.GPUs)

	tg.Fixes = Fixes{StarWildcard: true, CountEndpointsAndIPs: true, AMDMemoryAndInterface: true}
	fixed, err := tg.Quote(order(t, gpus), Dec{})
	require.NoError(t, err)
	// 4.8 + 2.4 + 2 x 1500 + 130 + 2 x 0.05 + 2 x 5 = 3147.3
	assert.Equal(t, "3147.3", fixed.USDPerMonth.String())
	assert.Equal(t, "mi300x.192Gi", fixed.GPUs[0].Matched)
	assert.Equal(t, "*", fixed.GPUs[1].Matched)
}

func TestDecRounding(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"0.0001220703125", 12, "0.000122070312"}, // a tie: to even
		{"0.0001220703135", 12, "0.000122070314"},
		{"2.5", 0, "2"}, {"3.5", 0, "4"}, {"2.5000001", 0, "3"},
		{"1.23456789", 4, "1.2346"},
	} {
		assert.Equal(t, c.want, MustDec(c.in).Format(c.n), c.in)
	}
	assert.Equal(t, "0.33333333333333333333", MustDec("1").bcQuo(MustDec("3")).String(), "bc truncates at scale 20")
}

func FuzzParseOrder(f *testing.F) {
	f.Add([]byte(`{"price":{"denom":"uakt","amount":"1.5"},"price_precision":6,"resources":[{"cpu":100,"memory":134217728,"count":1,"storage":[{"class":"ephemeral","size":1073741824}],"gpu":{"units":1,"attributes":{"vendor":{"nvidia":{"model":"a100","ram":"80Gi"}}}}}]}`))
	f.Add([]byte(`[{"cpu":100,"memory":1,"count":1,"storage":[]}]`))
	f.Add([]byte(`{"price":1}`))
	tg, _ := TargetsFromEnv(env("PRICE_TARGET_GPU_MAPPINGS", "a100=120"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOrder(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error must say what is wrong")
			}
			return
		}
		q, err := tg.Quote(o, MustDec("3.17"))
		if err == nil && q.Amount == "" {
			t.Fatal("a priced order has an amount")
		}
		if err == nil && strings.HasPrefix(q.Amount, "-") {
			t.Fatalf("negative price %s for %s", q.Amount, b)
		}
	})
}

func FuzzParseGPUMappings(f *testing.F) {
	f.Add("a100=120,t4=80,a100.40Gi=900")
	f.Add("*=130,,=,a=1=2")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseGPUMappings(s)
		if err != nil {
			return
		}
		if m.Fallback.Cmp(decInt(100)) < 0 {
			t.Fatalf("fallback %s below 100", m.Fallback)
		}
		for _, k := range m.Keys() {
			if p, matched := m.Lookup(k); matched != k || p.Cmp(m.Fallback) > 0 {
				t.Fatalf("key %q: matched %q at %s (fallback %s)", k, matched, p, m.Fallback)
			}
		}
	})
}
