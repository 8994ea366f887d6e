// Package pricing prices an Akash order the way the provider's bid price
// script (price_script_generic.sh of the akash-provider Helm chart) does:
// the same input, the same environment, the same output wherever the
// script's output is well defined, computed exactly in decimal.
package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// BlocksPerMonth is the script's month: (60/6.117)*24*60*30.437 blocks.
const BlocksPerMonth = 429909

// Denoms the script bids in.
const (
	DenomAKT = "uakt"
	DenomACT = "uact"
	// Axelar USDC over IBC: sandbox (uausdc) and mainnet (uusdc).
	DenomUSDCSandbox = "ibc/12C6A0C374171B595A0A9E18B83FA09D295FB1F2D8C6DAA3AC28683471752D84"
	DenomUSDCMainnet = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"
)

// usdDenoms are priced in micro-USD: 1 USD = 10^6 of them.
var usdDenoms = map[string]bool{DenomACT: true, DenomUSDCSandbox: true, DenomUSDCMainnet: true}

// Targets are the provider's prices in USD a month.
type Targets struct {
	CPU       Dec // a thread (1000 millicpu)
	Memory    Dec // a GiB
	Ephemeral Dec // a GiB of ephemeral storage
	HDD       Dec // a GiB of persistent storage class beta1
	SSD       Dec // beta2
	NVMe      Dec // beta3
	Endpoint  Dec // an endpoint
	IP        Dec // a leased IP
	GPU       GPUMappings
	// Fixes are opt-in departures from the script's arithmetic.
	Fixes Fixes
}

// Fixes are departures from the script, each off by default so that a
// provider's bids stay what they were until it chooses otherwise.
type Fixes struct {
	// StarWildcard prices an unmapped GPU at the "*" mapping when there is
	// one, instead of at the largest of 100 and every mapping.
	StarWildcard bool
	// CountEndpointsAndIPs multiplies endpoints and leased IPs by the
	// group's count, as CPU, memory and storage are (the script's jq does
	// not: `.ip_lease_quantity//0 * .count` parses as `x // (0 * .count)`).
	CountEndpointsAndIPs bool
	// AMDMemoryAndInterface uses an AMD GPU's ram and interface in its key,
	// as for NVIDIA (the script's jq finds them for NVIDIA only, so an AMD
	// GPU is looked up by its bare model).
	AMDMemoryAndInterface bool
}

// The script's defaults.
var defaultTargets = map[string]string{
	"PRICE_TARGET_CPU": "1.60", "PRICE_TARGET_MEMORY": "0.80", "PRICE_TARGET_HD_EPHEMERAL": "0.02",
	"PRICE_TARGET_HD_PERS_HDD": "0.01", "PRICE_TARGET_HD_PERS_SSD": "0.03", "PRICE_TARGET_HD_PERS_NVME": "0.04",
	"PRICE_TARGET_ENDPOINT": "0.05", "PRICE_TARGET_IP": "5",
}

// TargetsFromEnv reads the PRICE_TARGET_* variables; an unset or empty one
// takes the script's default.
func TargetsFromEnv(lookup func(string) (string, bool)) (Targets, error) {
	var t Targets
	var errs []error
	for name, dst := range map[string]*Dec{
		"PRICE_TARGET_CPU": &t.CPU, "PRICE_TARGET_MEMORY": &t.Memory, "PRICE_TARGET_HD_EPHEMERAL": &t.Ephemeral,
		"PRICE_TARGET_HD_PERS_HDD": &t.HDD, "PRICE_TARGET_HD_PERS_SSD": &t.SSD, "PRICE_TARGET_HD_PERS_NVME": &t.NVMe,
		"PRICE_TARGET_ENDPOINT": &t.Endpoint, "PRICE_TARGET_IP": &t.IP,
	} {
		v, _ := lookup(name)
		if v == "" {
			v = defaultTargets[name]
		}
		d, err := ParseTarget(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
			continue
		}
		*dst = d
	}
	mappings, _ := lookup("PRICE_TARGET_GPU_MAPPINGS")
	gpu, err := ParseGPUMappings(mappings)
	if err != nil {
		errs = append(errs, fmt.Errorf("PRICE_TARGET_GPU_MAPPINGS: %v", err))
	}
	t.GPU = gpu
	sortErrs(errs)
	return t, errors.Join(errs...)
}

func sortErrs(errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// GPUMappings are GPU prices in USD a month per unit, by key: model, then
// ".ram", then ".interface" ("a100=120,t4=80,a100.40Gi=900,a100.80Gi.sxm=1000").
type GPUMappings struct {
	prices map[string]Dec
	// Fallback prices a GPU no key matches: the largest of 100 and every
	// mapping's price (so "*=130" raises it; "*" is otherwise a key like
	// any other).
	Fallback Dec
}

// ParseGPUMappings reads comma-separated key=price pairs. Keys are taken as
// they are, case and spaces included, as the script does; a pair with an
// empty price is ignored, as the script does. Prices are read as the
// script's bc reads them (ParseTarget); one bc would misread is an error.
func ParseGPUMappings(s string) (GPUMappings, error) {
	m := GPUMappings{prices: map[string]Dec{}, Fallback: decInt(100)}
	if s == "" {
		return m, nil
	}
	var errs []error
	for _, pair := range strings.Split(s, ",") {
		key, value, _ := strings.Cut(pair, "=")
		// The script keeps what comes before a second '=' only.
		value, _, _ = strings.Cut(value, "=")
		if value == "" {
			continue
		}
		price, err := ParseTarget(value)
		if err != nil {
			errs = append(errs, fmt.Errorf("pair %q: price %v", pair, err))
			continue
		}
		m.prices[key] = price
		if price.Cmp(m.Fallback) > 0 {
			m.Fallback = price
		}
	}
	return m, errors.Join(errs...)
}

// GPUMappingsFromMap is ParseGPUMappings for a map (the chart's values).
func GPUMappingsFromMap(prices map[string]string) (GPUMappings, error) {
	keys := make([]string, 0, len(prices))
	for k := range prices {
		if strings.ContainsAny(k, ",=") {
			return GPUMappings{}, fmt.Errorf("GPU key %q: must not hold ',' or '='", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, k+"="+prices[k])
	}
	return ParseGPUMappings(strings.Join(pairs, ","))
}

// Keys returns the mapped keys, sorted.
func (m GPUMappings) Keys() []string {
	keys := make([]string, 0, len(m.prices))
	for k := range m.prices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Lookup prices a GPU key: the key, then without its last ".segment", then
// the bare model (before the first '.'), then the fallback. matched is the
// key that matched ("" for the fallback).
func (m GPUMappings) Lookup(key string) (price Dec, matched string) {
	candidates := []string{key}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		candidates = append(candidates, key[:i])
	}
	if i := strings.IndexByte(key, '.'); i >= 0 {
		candidates = append(candidates, key[:i])
	}
	for _, k := range candidates {
		if p, ok := m.prices[k]; ok {
			return p, k
		}
	}
	return m.Fallback, ""
}

// Order is one request for a price, as the provider sends it on stdin.
type Order struct {
	Resources []Resource
	// Price is the order's maximum price; nil for the legacy form (a bare
	// array of resources), which is bid in uakt as an integer.
	Price *Coin
	// Precision is the number of decimals of the answer (price_precision,
	// 6 when absent).
	Precision int
}

// Coin is a denomination and an amount (a decimal per block).
type Coin struct {
	Denom  string
	Amount Dec
}

// Resource is one resource group of the order.
type Resource struct {
	CPU              Dec // millicpu
	Memory           Dec // bytes
	GPU              GPU
	Storage          []Storage
	Count            Dec
	EndpointQuantity Dec
	IPLeaseQuantity  Dec
}

// GPU is a resource group's GPU request.
type GPU struct {
	Units Dec
	// Vendor, Model, RAM and Interface come from the first vendor given
	// (nvidia, else amd); empty if none.
	Vendor, Model, RAM, Interface string
}

// Key is the GPU's mapping key: model, then .ram, then .interface, as
// given. "0" when the order names no model (as the script has it). As in
// the script, an AMD GPU's key is its bare model unless amdFull.
func (g GPU) Key(amdFull bool) string {
	if g.Model == "" {
		return "0"
	}
	k := g.Model
	if g.Vendor == "amd" && !amdFull {
		return k
	}
	if g.RAM != "" {
		k += "." + g.RAM
	}
	if g.Interface != "" {
		k += "." + g.Interface
	}
	return k
}

// Storage is one volume of a resource group.
type Storage struct {
	Class string
	Size  Dec // bytes
}

// wire forms, decoded with numbers kept as text.
type wireOrder struct {
	Resources      []wireResource  `json:"resources"`
	Price          json.RawMessage `json:"price"`
	PricePrecision *numText        `json:"price_precision"`
}

type wireResource struct {
	CPU              numText       `json:"cpu"`
	Memory           numText       `json:"memory"`
	GPU              *wireGPU      `json:"gpu"`
	Storage          []wireStorage `json:"storage"`
	Count            numText       `json:"count"`
	EndpointQuantity *numText      `json:"endpoint_quantity"`
	IPLeaseQuantity  *numText      `json:"ip_lease_quantity"`
}

// numText is a number as its JSON text; a JSON string holding it is
// accepted too (coins carry amounts as strings). It is checked where the
// field's name is known.
type numText string

func (n *numText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = numText(s)
		return nil
	}
	*n = numText(b)
	return nil
}

type wireGPU struct {
	Units      *numText `json:"units"`
	Attributes struct {
		Vendor map[string]*struct {
			Model     string `json:"model"`
			RAM       string `json:"ram"`
			Interface string `json:"interface"`
		} `json:"vendor"`
	} `json:"attributes"`
}

type wireStorage struct {
	Class string  `json:"class"`
	Size  numText `json:"size"`
}

// ParseOrder reads an order in either form. Anything the script could not
// price (missing counts, negative sizes, an empty order) is an error that
// says which field is wrong.
func ParseOrder(b []byte) (Order, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return Order{}, errors.New("order: empty input, want a JSON object or array")
	}
	var o Order
	var resources []wireResource
	switch b[0] {
	case '[':
		if err := strictUnmarshal(b, &resources); err != nil {
			return Order{}, fmt.Errorf("order (legacy array form): %w", err)
		}
		o.Precision = 6
	case '{':
		var w wireOrder
		if err := strictUnmarshal(b, &w); err != nil {
			return Order{}, fmt.Errorf("order: %w", err)
		}
		resources = w.Resources
		if len(w.Price) == 0 || string(w.Price) == "null" {
			return Order{}, errors.New("order: no price: an object order must carry price {denom, amount}")
		}
		var price struct {
			Denom  string  `json:"denom"`
			Amount numText `json:"amount"`
		}
		if w.Price[0] != '{' {
			return Order{}, errors.New("order: price must be an object {denom, amount} (is the akash-provider up to date?)")
		}
		if err := strictUnmarshal(w.Price, &price); err != nil {
			return Order{}, fmt.Errorf("order: price: %w", err)
		}
		amount, err := ParseDec(strings.TrimPrefix(string(price.Amount), "+"))
		if err != nil {
			return Order{}, fmt.Errorf("order: price.amount: %v", err)
		}
		if price.Denom == "" {
			return Order{}, errors.New("order: price.denom is empty")
		}
		o.Price = &Coin{Denom: price.Denom, Amount: amount}
		o.Precision = 6
		if w.PricePrecision != nil {
			p, err := strconv.Atoi(string(*w.PricePrecision))
			if err != nil || p < 0 || p > 30 {
				return Order{}, fmt.Errorf("order: price_precision %q: want an integer from 0 to 30", *w.PricePrecision)
			}
			o.Precision = p
		}
	default:
		return Order{}, fmt.Errorf("order: starts with %q, want a JSON object or array", b[0])
	}
	if len(resources) == 0 {
		return Order{}, errors.New("order: no resources")
	}
	for i, w := range resources {
		r, err := parseResource(w)
		if err != nil {
			return Order{}, fmt.Errorf("order: resources[%d]: %w", i, err)
		}
		o.Resources = append(o.Resources, r)
	}
	return o, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func parseResource(w wireResource) (Resource, error) {
	var r Resource
	var err error
	num := func(field string, n numText, required bool) Dec {
		if err != nil {
			return Dec{}
		}
		if n == "" {
			if required {
				err = fmt.Errorf("%s is missing", field)
			}
			return decInt(0)
		}
		d, perr := parseNumber(n)
		if perr != nil {
			err = fmt.Errorf("%s: %v", field, perr)
		}
		return d
	}
	r.CPU = num("cpu", w.CPU, true)
	r.Memory = num("memory", w.Memory, true)
	r.Count = num("count", w.Count, true)
	if w.EndpointQuantity != nil {
		r.EndpointQuantity = num("endpoint_quantity", *w.EndpointQuantity, false)
	} else {
		r.EndpointQuantity = decInt(0)
	}
	if w.IPLeaseQuantity != nil {
		r.IPLeaseQuantity = num("ip_lease_quantity", *w.IPLeaseQuantity, false)
	} else {
		r.IPLeaseQuantity = decInt(0)
	}
	if w.Storage == nil {
		err = errors.Join(err, errors.New("storage is missing (the provider always sends at least the ephemeral volume)"))
	}
	for i, s := range w.Storage {
		r.Storage = append(r.Storage, Storage{Class: s.Class, Size: num(fmt.Sprintf("storage[%d].size", i), s.Size, true)})
	}
	r.GPU.Units = decInt(0)
	if w.GPU != nil {
		if w.GPU.Units != nil {
			r.GPU.Units = num("gpu.units", *w.GPU.Units, false)
		}
		for _, vendor := range []string{"nvidia", "amd"} {
			if v := w.GPU.Attributes.Vendor[vendor]; v != nil {
				r.GPU.Vendor, r.GPU.Model, r.GPU.RAM, r.GPU.Interface = vendor, v.Model, v.RAM, v.Interface
				break
			}
		}
		if r.GPU.Model == "" {
			r.GPU.Vendor = ""
		}
	}
	return r, err
}

// parseNumber reads a JSON number as an exact non-negative decimal.
func parseNumber(n numText) (Dec, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return Dec{}, fmt.Errorf("%q is not a number", n)
	}
	if r.Sign() < 0 {
		return Dec{}, fmt.Errorf("%s is negative", n)
	}
	return Dec{r}, nil
}

// Quote is the answer to an order.
type Quote struct {
	// Denom and Amount are what the provider bids per block (Amount printed
	// with the order's precision).
	Denom  string
	Amount string
	// USDPerMonth is the order's cost at the targets.
	USDPerMonth Dec
	// GPUs says how each resource group's GPUs were priced.
	GPUs []GPUPrice
}

// GPUPrice is how one resource group's GPU was priced.
type GPUPrice struct {
	Key string // the order's key (model.ram.interface)
	// Matched is the mapping key used; "" when the fallback priced it.
	Matched string
	Price   Dec
	Units   Dec
	Count   Dec
}

// Refusal is a price the provider must not bid: the order pays too little,
// or cannot be priced. Its message is what the provider logs.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// Quote prices an order. aktUSD is AKT's price in USD, needed for uakt only;
// invalid (zero Dec) when unknown.
func (t Targets) Quote(o Order, aktUSD Dec) (Quote, error) {
	gib := decInt(1 << 30)
	var (
		cpu, memory, endpoints, ips = decInt(0), decInt(0), decInt(0), decInt(0)
		storage                     = map[string]Dec{"ephemeral": decInt(0), "beta1": decInt(0), "beta2": decInt(0), "beta3": decInt(0)}
		gpuTotal                    = decInt(0)
		q                           Quote
	)
	for _, r := range o.Resources {
		cpu = cpu.Add(r.CPU.Mul(r.Count))
		memory = memory.Add(r.Memory.Mul(r.Count))
		for _, s := range r.Storage {
			if total, ok := storage[s.Class]; ok {
				storage[s.Class] = total.Add(s.Size.Mul(r.Count))
			}
		}
		if t.Fixes.CountEndpointsAndIPs {
			endpoints = endpoints.Add(r.EndpointQuantity.Mul(r.Count))
			ips = ips.Add(r.IPLeaseQuantity.Mul(r.Count))
		} else { // as the script's jq has it
			endpoints = endpoints.Add(r.EndpointQuantity)
			ips = ips.Add(r.IPLeaseQuantity)
		}
		key := r.GPU.Key(t.Fixes.AMDMemoryAndInterface)
		price, matched := t.GPU.Lookup(key)
		if matched == "" && t.Fixes.StarWildcard {
			if star, ok := t.GPU.prices["*"]; ok {
				price, matched = star, "*"
			}
		}
		gpuTotal = gpuTotal.Add(r.Count.Mul(r.GPU.Units).Mul(price))
		if !r.GPU.Units.IsZero() {
			q.GPUs = append(q.GPUs, GPUPrice{Key: key, Matched: matched, Price: price, Units: r.GPU.Units, Count: r.Count})
		}
	}
	// The script's awk prints memory and storage in GiB with 12 decimals.
	usd := cpu.quo(decInt(1000)).Mul(t.CPU).
		Add(memory.quo(gib).Round(12).Mul(t.Memory)).
		Add(storage["ephemeral"].quo(gib).Round(12).Mul(t.Ephemeral)).
		Add(storage["beta1"].quo(gib).Round(12).Mul(t.HDD)).
		Add(storage["beta2"].quo(gib).Round(12).Mul(t.SSD)).
		Add(storage["beta3"].quo(gib).Round(12).Mul(t.NVMe)).
		Add(endpoints.Mul(t.Endpoint)).
		Add(ips.Mul(t.IP)).
		Add(gpuTotal)
	q.USDPerMonth = usd
	blocks := decInt(BlocksPerMonth)
	micro := decInt(1_000_000)

	denom := DenomAKT
	if o.Price != nil {
		denom = o.Price.Denom
	}
	q.Denom = denom
	// bash's printf reads numbers as x86-64 long doubles, awk as doubles.
	const longDouble, double = 64, 53
	switch {
	case denom == DenomAKT:
		if !aktUSD.Valid() || aktUSD.Sign() <= 0 {
			return q, &Refusal{"no AKT price: no source answered and no static price is set, so a uakt bid cannot be priced"}
		}
		perBlock := usd.bcQuo(aktUSD).Mul(micro).bcQuo(blocks)
		if o.Price == nil {
			// The script prints with 6 decimals, then that as an integer.
			printed, err := reread(perBlock.printfBinary(6, longDouble))
			if err != nil {
				return q, err
			}
			q.Amount = printed.printfBinary(0, longDouble)
			return q, nil
		}
		shown := perBlock.printfBinary(o.Precision, longDouble)
		if perBlock.GreaterThan(o.Price.Amount) {
			return q, &Refusal{fmt.Sprintf("requested rate is too low. min expected %s%s", shown, denom)}
		}
		q.Amount = shown
	case usdDenoms[denom]:
		// awk prints the micro-USD rate; the comparison and the answer use
		// what it printed.
		printed, err := reread(usd.bcQuo(blocks).Mul(micro).printfBinary(o.Precision, double))
		if err != nil {
			return q, err
		}
		shown := printed.printfBinary(o.Precision, longDouble)
		if printed.GreaterThan(o.Price.Amount) {
			return q, &Refusal{fmt.Sprintf("requested rate is too low. min expected %s%s", shown, denom)}
		}
		q.Amount = shown
	default:
		return q, &Refusal{"denom in not supported: " + denom}
	}
	return q, nil
}

// reread reads back a number the price printed, as the script's next step
// reads what printf wrote; one that does not parse is an error for this
// request, never a panic of the server.
func reread(printed string) (Dec, error) {
	d, err := ParseDec(printed)
	if err != nil {
		return Dec{}, fmt.Errorf("the computed rate printed as %q, which does not read back as a number: %w", printed, err)
	}
	return d, nil
}
