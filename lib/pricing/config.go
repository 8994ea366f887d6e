package pricing

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is what prices: the script's PRICE_TARGET_* variables, the AKT
// price sources and the opt-in fixes. The drop-in reads it from its
// environment, the service from a ConfigMap with the same keys.
type Config struct {
	Targets Targets
	Oracle  *Oracle
	// Describe is for the log: what the config says, secrets-free.
	Describe map[string]string
}

// Keys beyond the script's PRICE_TARGET_* ones.
const (
	keyStatic    = "AKT_PRICE_USD"     // a fixed AKT price; no source is asked
	keySources   = "AKT_PRICE_SOURCES" // comma-separated, in order: dia, coingecko
	keyDIAURL    = "AKT_DIA_URL"
	keyCGURL     = "AKT_COINGECKO_URL"
	keyCacheFile = "AKT_PRICE_CACHE"     // the CLI's price file across runs
	KeyLogLevel  = "BID_PRICE_LOG_LEVEL" // the CLI's own log on stderr (debug, info, ...); none by default
	keyFixStar   = "FIX_STAR_WILDCARD"
	keyFixCount  = "FIX_COUNT_ENDPOINTS_AND_IPS"
	keyFixAMD    = "FIX_AMD_MEMORY_AND_INTERFACE"
)

// LoadConfig reads a Config through lookup (the environment, or a
// ConfigMap's data). cacheFile keeps the AKT price in a file across runs,
// for the drop-in, which lives one quote long.
func LoadConfig(lookup func(string) (string, bool), cacheFile bool) (*Config, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	targets, err := TargetsFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	for key, dst := range map[string]*bool{keyFixStar: &targets.Fixes.StarWildcard, keyFixCount: &targets.Fixes.CountEndpointsAndIPs, keyFixAMD: &targets.Fixes.AMDMemoryAndInterface} {
		if v := get(key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: want true or false", key, v)
			}
			*dst = b
		}
	}
	o := &Oracle{Timeout: 3 * time.Second, TTL: time.Hour}
	c := &Config{Targets: targets, Oracle: o, Describe: map[string]string{
		"gpu_mappings": strings.Join(targets.GPU.Keys(), ","), "gpu_fallback": targets.GPU.Fallback.String()}}
	if static := get(keyStatic); static != "" {
		s, err := ParseStatic(static)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", keyStatic, err)
		}
		o.Sources = []Source{s}
		c.Describe["akt_price"] = "static " + static
	} else {
		names := get(keySources)
		if names == "" {
			names = "dia,coingecko"
		}
		for _, name := range strings.Split(names, ",") {
			switch strings.TrimSpace(name) {
			case "dia":
				o.Sources = append(o.Sources, DIA(cmp.Or(get(keyDIAURL), DIAURL)))
			case "coingecko":
				o.Sources = append(o.Sources, CoinGecko(cmp.Or(get(keyCGURL), CoinGeckoURL)))
			default:
				return nil, fmt.Errorf("%s: unknown source %q (want dia, coingecko)", keySources, name)
			}
		}
		c.Describe["akt_price"] = "sources " + names
	}
	if cacheFile && get(keyStatic) == "" {
		// A static price is used as given: never cached, never read back.
		o.CacheFile = cmp.Or(get(keyCacheFile), filepath.Join(os.TempDir(), "akash-janitor-akt-price.json"))
	}
	return c, nil
}
