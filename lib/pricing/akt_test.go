package pricing

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// api serves a recorded answer (testdata, in the shape the real API
// returns) and counts the requests.
func api(t *testing.T, status int, body string, delay time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func recorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestSourcesReadTheRealAnswers(t *testing.T) {
	dia, _ := api(t, 200, recorded(t, "dia.json"), 0)
	p, err := DIA(dia.URL).Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "2.6139485127", p.String(), "exactly the JSON's digits")

	cg, _ := api(t, 200, recorded(t, "coingecko.json"), 0)
	p, err = CoinGecko(cg.URL).Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "2.61", p.String())

	for body, want := range map[string]string{
		`{"Price":0}`:        "outside (0, 1000000]",
		`{"Price":2000000}`:  "outside (0, 1000000]",
		`{"Price":null}`:     "holds no price",
		`{}`:                 "holds no price",
		`<html>rate limited`: "not the expected JSON",
		`{"Price":"2.5"}`:    `price "\"2.5\"" is not a number`,
	} {
		s, _ := api(t, 200, body, 0)
		_, err := DIA(s.URL).Price(context.Background())
		if assert.Error(t, err, body) {
			assert.Contains(t, err.Error(), want, body)
			assert.Contains(t, err.Error(), "dia: ")
		}
	}
	s, _ := api(t, 429, `{"status":{"error_code":429}}`, 0)
	_, err = CoinGecko(s.URL).Price(context.Background())
	assert.ErrorContains(t, err, "coingecko: HTTP 429")
}

func TestOracleOrderTimeoutCacheAndKeep(t *testing.T) {
	slow, slowN := api(t, 200, recorded(t, "dia.json"), 2*time.Second)
	cg, cgN := api(t, 200, recorded(t, "coingecko.json"), 0)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	o := &Oracle{Sources: []Source{DIA(slow.URL), CoinGecko(cg.URL)}, Timeout: 200 * time.Millisecond, TTL: time.Hour,
		Now: func() time.Time { return now }}

	p, err := o.Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "coingecko", p.Source, "the first source timed out; the second answered")
	assert.Equal(t, "2.61", p.USD.String())
	assert.EqualValues(t, 1, slowN.Load())

	now = now.Add(59 * time.Minute)
	_, err = o.Price(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, cgN.Load(), "cached for an hour")

	// Every source down: the last price is kept, and the error says so.
	cg.Close()
	slow.Close()
	now = now.Add(2 * time.Hour)
	p, err = o.Price(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "keeping the price of 2026-11-22T12:00:00Z from coingecko")
	assert.Equal(t, "2.61", p.USD.String())

	// Never any price: no price, and a clear error.
	o = &Oracle{Sources: []Source{DIA(slow.URL)}, Timeout: 100 * time.Millisecond, TTL: time.Hour}
	_, err = o.Price(context.Background())
	assert.ErrorIs(t, err, ErrNoAKTPrice)
}

func TestOracleCacheFileAcrossProcesses(t *testing.T) {
	cg, n := api(t, 200, recorded(t, "coingecko.json"), 0)
	file := filepath.Join(t.TempDir(), "akt.json")
	first := &Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file}
	_, err := first.Price(context.Background())
	require.NoError(t, err)
	second := &Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file}
	p, err := second.Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "2.61", p.USD.String())
	assert.EqualValues(t, 1, n.Load(), "the second process used the file")

	require.NoError(t, os.WriteFile(file, []byte("garbage"), 0o644))
	third := &Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file}
	_, err = third.Price(context.Background())
	require.NoError(t, err, "a corrupt cache is ignored and replaced")
	assert.EqualValues(t, 2, n.Load())
}

// A cached price is used only by the sources that wrote it; a file that is
// not ours, or broken, is never trusted.
func TestOracleCacheIsKeyedBySources(t *testing.T) {
	cg, cgN := api(t, 200, recorded(t, "coingecko.json"), 0) // 2.61
	dia, diaN := api(t, 200, recorded(t, "dia.json"), 0)     // 2.6139485127
	file := filepath.Join(t.TempDir(), "akt.json")
	byCG := &Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file}
	_, err := byCG.Price(context.Background())
	require.NoError(t, err)

	byDIA := &Oracle{Sources: []Source{DIA(dia.URL)}, TTL: time.Hour, CacheFile: file}
	p, err := byDIA.Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "dia", p.Source, "CoinGecko's cached price is not DIA's")
	assert.Equal(t, "2.6139485127", p.USD.String())
	assert.EqualValues(t, 1, diaN.Load())

	// The same source at another URL is another source.
	elsewhere, _ := api(t, 200, `{"akash-network":{"usd":9.99}}`, 0)
	p, err = (&Oracle{Sources: []Source{CoinGecko(elsewhere.URL)}, TTL: time.Hour, CacheFile: file}).Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "9.99", p.USD.String())

	// With every source down, a price cached by other sources is not kept.
	down := DIA("http://127.0.0.1:1")
	_, err = (&Oracle{Sources: []Source{down}, TTL: time.Hour, CacheFile: file, Timeout: 100 * time.Millisecond}).Price(context.Background())
	assert.ErrorIs(t, err, ErrNoAKTPrice)

	var debug bytes.Buffer
	for name, body := range map[string]string{
		"corrupt":      `{"kind":"akash-janitor/akt-price/v2","sources":`,
		"foreign":      `{"usd":"0.01","source":"dia","fetched":"2026-11-30T00:00:00Z"}`,
		"bad price":    `{"kind":"akash-janitor/akt-price/v2","sources":"coingecko=` + cg.URL + `;","usd":"-3","source":"coingecko","fetched":"2026-11-30T00:00:00Z"}`,
		"future":       `{"kind":"akash-janitor/akt-price/v2","sources":"coingecko=` + cg.URL + `;","usd":"0.01","source":"coingecko","fetched":"2099-01-01T00:00:00Z"}`,
		"unreadable":   "",
		"the script's": "0.01\n",
	} {
		debug.Reset()
		require.NoError(t, os.RemoveAll(file))
		if name == "unreadable" {
			require.NoError(t, os.Mkdir(file, 0o755))
		} else {
			require.NoError(t, os.WriteFile(file, []byte(body), 0o644))
		}
		before := cgN.Load()
		o := &Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file, Log: zerolog.New(&debug).Level(zerolog.DebugLevel)}
		p, err := o.Price(context.Background())
		if name == "unreadable" {
			assert.Error(t, err, "the price is good, the file cannot be replaced: said")
		} else {
			require.NoError(t, err, name)
		}
		assert.Equal(t, "2.61", p.USD.String(), name)
		assert.Equal(t, before+1, cgN.Load(), "%s: the source was asked", name)
		assert.Contains(t, debug.String(), "AKT price cache ignored", name)
	}
}

func TestStaticPriceIsNeverCached(t *testing.T) {
	file := filepath.Join(t.TempDir(), "akt.json")
	cg, _ := api(t, 200, recorded(t, "coingecko.json"), 0)
	_, err := (&Oracle{Sources: []Source{CoinGecko(cg.URL)}, TTL: time.Hour, CacheFile: file}).Price(context.Background())
	require.NoError(t, err)
	for _, usd := range []string{"2.5", "0.5"} {
		s, err := ParseStatic(usd)
		require.NoError(t, err)
		p, err := (&Oracle{Sources: []Source{s}, TTL: time.Hour, CacheFile: file}).Price(context.Background())
		require.NoError(t, err)
		assert.Equal(t, usd, p.USD.String(), "the static price, as given")
		assert.Equal(t, "static", p.Source)
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"source":"coingecko"`, "a static price is never written")
}

func TestStaticPrice(t *testing.T) {
	s, err := ParseStatic("1.85")
	require.NoError(t, err)
	o := &Oracle{Sources: []Source{s}, TTL: time.Hour}
	p, err := o.Price(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "static", p.Source)
	_, err = ParseStatic("0")
	assert.ErrorContains(t, err, "outside (0, 1000000]")
	_, err = ParseStatic("cheap")
	assert.ErrorContains(t, err, "is not a number")
}
