package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The sources the script asks for AKT's price, in its order.
const (
	DIAURL       = "https://api.diadata.org/v1/assetQuotation/Osmosis/ibc-C2CFB1C37C146CF95B0784FD518F8030FEFC76C5800105B1742FB65FFE65F873"
	CoinGeckoURL = "https://api.coingecko.com/api/v3/simple/price?ids=akash-network&vs_currencies=usd"
)

// maxAKTUSD is the largest price believed, as in the script: (0, 1e6].
var maxAKTUSD = decInt(1_000_000)

// Source gives AKT's price in USD.
type Source interface {
	Name() string
	Price(ctx context.Context) (Dec, error)
}

// HTTPSource reads the price from a JSON API.
type HTTPSource struct {
	SourceName string
	URL        string
	Client     *http.Client
	// Extract takes the price's JSON number out of the response body.
	Extract func(body []byte) (json.RawMessage, error)
}

// DIA is DIA's quotation of AKT on Osmosis: {"Price": 2.61, ...}.
func DIA(url string) *HTTPSource {
	return &HTTPSource{SourceName: "dia", URL: url, Extract: func(b []byte) (json.RawMessage, error) {
		var r struct {
			Price json.RawMessage `json:"Price"`
		}
		err := json.Unmarshal(b, &r)
		return r.Price, err
	}}
}

// CoinGecko is CoinGecko's simple price: {"akash-network": {"usd": 2.61}}.
func CoinGecko(url string) *HTTPSource {
	return &HTTPSource{SourceName: "coingecko", URL: url, Extract: func(b []byte) (json.RawMessage, error) {
		var r map[string]struct {
			USD json.RawMessage `json:"usd"`
		}
		err := json.Unmarshal(b, &r)
		return r["akash-network"].USD, err
	}}
}

func (s *HTTPSource) Name() string { return s.SourceName }

// Price asks the API once.
func (s *HTTPSource) Price(ctx context.Context) (Dec, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return Dec{}, fmt.Errorf("%s: %w", s.SourceName, err)
	}
	req.Header.Set("Accept", "application/json")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Dec{}, fmt.Errorf("%s: %w", s.SourceName, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Dec{}, fmt.Errorf("%s: read the answer: %w", s.SourceName, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Dec{}, fmt.Errorf("%s: HTTP %d: %.200s", s.SourceName, resp.StatusCode, body)
	}
	raw, err := s.Extract(body)
	if err != nil {
		return Dec{}, fmt.Errorf("%s: answer is not the expected JSON: %w", s.SourceName, err)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return Dec{}, fmt.Errorf("%s: the answer holds no price: %.200s", s.SourceName, body)
	}
	return checkAKTPrice(s.SourceName, string(raw))
}

// checkAKTPrice reads a price and keeps it only in (0, 1e6].
func checkAKTPrice(source, text string) (Dec, error) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return Dec{}, fmt.Errorf("%s: price %q is not a number", source, text)
	}
	d := Dec{r}
	if d.Sign() <= 0 || d.Cmp(maxAKTUSD) > 0 {
		return Dec{}, fmt.Errorf("%s: price %s is outside (0, 1000000]", source, text)
	}
	return d, nil
}

// Static is a price set by the operator (air-gapped providers).
type Static struct{ USD Dec }

func (s Static) Name() string                       { return "static" }
func (s Static) Price(context.Context) (Dec, error) { return s.USD, nil }
func (s Static) String() string                     { return s.USD.String() }

// ParseStatic reads an operator's static price.
func ParseStatic(s string) (Static, error) {
	d, err := checkAKTPrice("static price", s)
	return Static{d}, err
}

// AKTPrice is a known price and where and when it came from.
type AKTPrice struct {
	USD     Dec
	Source  string
	Fetched time.Time
}

// Oracle answers AKT's price from its sources in order, each with a
// timeout, and keeps a good price for TTL; when every source fails it keeps
// the last good price, however old (bids go on, as with the script), and
// says how old it is.
type Oracle struct {
	Sources []Source
	Timeout time.Duration // per source; 3 s in the script
	TTL     time.Duration // an hour in the script
	// CacheFile, if set, keeps the price across processes (the drop-in CLI
	// runs once per order). It records the sources it came from: a price
	// from other sources than the configured ones is never used, and a
	// static price is never read from nor written to it.
	CacheFile string
	Now       func() time.Time
	// Log gets a debug line for each cache file ignored, and why.
	Log zerolog.Logger

	mu   sync.Mutex
	last *AKTPrice
}

// ErrNoAKTPrice is returned when no source answered and none ever did.
var ErrNoAKTPrice = errors.New("no AKT price: every source failed and none answered before")

// Price returns the price and, if sources failed, why (with a price still
// returned when an older one is kept).
func (o *Oracle) Price(ctx context.Context) (AKTPrice, error) {
	if s, ok := o.static(); ok {
		// The operator's price, as given: nothing to cache, nothing to age.
		return AKTPrice{USD: s.USD, Source: s.Name(), Fetched: o.now()}, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if o.last == nil && o.CacheFile != "" {
		o.last = o.readCache()
	}
	if o.last != nil && now.Sub(o.last.Fetched) < o.TTL {
		return *o.last, nil
	}
	var errs []error
	for _, s := range o.Sources {
		sctx, cancel := context.WithTimeout(ctx, o.timeout())
		usd, err := s.Price(sctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.last = &AKTPrice{USD: usd, Source: s.Name(), Fetched: now}
		if o.CacheFile != "" {
			if err := writeCache(o.CacheFile, sourcesID(o.Sources), *o.last); err != nil {
				return *o.last, fmt.Errorf("keep the AKT price in %s: %w", o.CacheFile, err)
			}
		}
		return *o.last, nil
	}
	failed := errors.Join(errs...)
	if o.last != nil {
		return *o.last, fmt.Errorf("keeping the price of %s from %s: %w", o.last.Fetched.Format(time.RFC3339), o.last.Source, failed)
	}
	return AKTPrice{}, fmt.Errorf("%w: %v", ErrNoAKTPrice, failed)
}

func (o *Oracle) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Oracle) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 3 * time.Second
}

// static returns the operator's static price when that is the only source.
func (o *Oracle) static() (Static, bool) {
	if len(o.Sources) != 1 {
		return Static{}, false
	}
	s, ok := o.Sources[0].(Static)
	return s, ok
}

// cacheKind marks the file as ours, so a file of the same name written by
// something else is not read as a price.
const cacheKind = "akash-janitor/akt-price/v2"

type cacheFile struct {
	Kind    string    `json:"kind"`
	Sources string    `json:"sources"`
	USD     string    `json:"usd"`
	Source  string    `json:"source"`
	Fetched time.Time `json:"fetched"`
}

// readCache returns the cached price if the file is ours, whole, and from
// the sources configured now; otherwise nil, and a debug line says why.
func (o *Oracle) readCache() *AKTPrice {
	ignore := func(why string) *AKTPrice {
		o.Log.Debug().Str("file", o.CacheFile).Msg("AKT price cache ignored: " + why)
		return nil
	}
	b, err := os.ReadFile(o.CacheFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return ignore(err.Error())
	}
	var c cacheFile
	if err := json.Unmarshal(b, &c); err != nil {
		return ignore("not JSON: " + err.Error())
	}
	if c.Kind != cacheKind {
		return ignore(fmt.Sprintf("kind %q is not %q (an older version's file, or not ours)", c.Kind, cacheKind))
	}
	if want := sourcesID(o.Sources); c.Sources != want {
		return ignore(fmt.Sprintf("written for the sources %q, configured now %q", c.Sources, want))
	}
	usd, err := checkAKTPrice("cache", c.USD)
	if err != nil {
		return ignore(err.Error())
	}
	if c.Fetched.IsZero() || c.Fetched.After(o.now().Add(time.Minute)) {
		return ignore(fmt.Sprintf("fetched at %s, which is not a past time", c.Fetched.Format(time.RFC3339)))
	}
	return &AKTPrice{USD: usd, Source: c.Source, Fetched: c.Fetched}
}

// writeCache replaces the file atomically, so a concurrent reader sees the
// old price or the new one.
func writeCache(path, sources string, p AKTPrice) error {
	b, _ := json.Marshal(cacheFile{Kind: cacheKind, Sources: sources, USD: p.USD.String(), Source: p.Source, Fetched: p.Fetched})
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Rebuilt returns n, a new configuration's oracle, knowing the price o
// knows when both ask the same sources: a configuration reload does not
// forget the price, nor keep one from sources no longer configured.
func (o *Oracle) Rebuilt(n *Oracle) *Oracle {
	if sourcesID(o.Sources) == sourcesID(n.Sources) {
		o.mu.Lock()
		n.last = o.last
		o.mu.Unlock()
	}
	return n
}

func sourcesID(sources []Source) string {
	var b []byte
	for _, s := range sources {
		switch s := s.(type) {
		case *HTTPSource:
			b = append(b, s.SourceName+"="+s.URL+";"...)
		case Static:
			b = append(b, "static="+s.USD.String()+";"...)
		default:
			b = append(b, s.Name()+";"...)
		}
	}
	return string(b)
}
