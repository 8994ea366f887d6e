package pricing

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// Dec is an exact decimal (a rational with a power-of-ten denominator once
// truncated or rounded). Prices never go through floating point: the
// script computes in bc, and so do we, exactly.
type Dec struct{ r *big.Rat }

var decPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseDec reads a plain non-negative decimal: digits, optionally a point and
// more digits (what the script's regex and bc accept).
func ParseDec(s string) (Dec, error) {
	if !decPattern.MatchString(s) {
		return Dec{}, fmt.Errorf("%q is not a non-negative decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Dec{}, fmt.Errorf("%q is not a decimal number", s)
	}
	return Dec{r}, nil
}

// targetPattern is what bc reads as a plain non-negative number where the
// script puts a PRICE_TARGET_* value or a GPU mapping's price into its
// arithmetic: blanks around it, digits with an optional point, a leading
// point (".5") or a trailing one ("5.").
var targetPattern = regexp.MustCompile(`^[ \t]*([0-9]+\.?[0-9]*|\.[0-9]+)[ \t]*$`)

// ParseTarget reads a price an operator wrote for the script: every
// spelling the script's bc reads as a number is read to the same value.
// What bc reads as something else is refused, saying what the script would
// have done with it, since each turns into a wrong bid: a leading "+" (a bc
// syntax error: the script bids 0), a minus (a negative price), a lone
// point, a word or a hex digit (bc reads "." and names as 0, uppercase
// letters as hex digits), and a blank value.
func ParseTarget(s string) (Dec, error) {
	if m := targetPattern.FindStringSubmatch(s); m != nil {
		r, ok := new(big.Rat).SetString(strings.TrimSuffix(m[1], "."))
		if ok {
			return Dec{r}, nil
		}
	}
	t := strings.Trim(s, " \t")
	var why string
	switch {
	case t == "":
		why = "is blank (the script's bc fails on it and the bid comes out 0)"
	case strings.HasPrefix(t, "+"):
		why = "starts with '+', which bc does not read (the script's bid comes out 0); write it without the sign"
	case strings.HasPrefix(t, "-"):
		why = "is negative; a price must be 0 or more"
	case t == ".":
		why = "is a lone point (bc reads it as 0)"
	case strings.IndexFunc(t, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0:
		why = "is not a number (bc reads a name as 0, pricing it at nothing)"
	case strings.IndexFunc(t, func(r rune) bool { return r >= 'A' && r <= 'F' }) >= 0:
		why = "is not a decimal number (bc reads uppercase letters as hex digits)"
	default:
		why = "is not a decimal number (digits with an optional point, as 1.60, .5 or 75)"
	}
	return Dec{}, fmt.Errorf("%q %s", s, why)
}

// MustDec is ParseDec for constants.
func MustDec(s string) Dec {
	d, err := ParseDec(s)
	if err != nil {
		panic(err)
	}
	return d
}

func decInt(n int64) Dec             { return Dec{new(big.Rat).SetInt64(n)} }
func (d Dec) Cmp(o Dec) int          { return d.r.Cmp(o.r) }
func (d Dec) Add(o Dec) Dec          { return Dec{new(big.Rat).Add(d.r, o.r)} }
func (d Dec) Mul(o Dec) Dec          { return Dec{new(big.Rat).Mul(d.r, o.r)} }
func (d Dec) quo(o Dec) Dec          { return Dec{new(big.Rat).Quo(d.r, o.r)} }
func (d Dec) IsZero() bool           { return d.r == nil || d.r.Sign() == 0 }
func (d Dec) String() string         { return d.Format(-1) }
func (d Dec) Float64() float64       { f, _ := d.r.Float64(); return f }
func (d Dec) Sign() int              { return d.r.Sign() }
func (d Dec) Valid() bool            { return d.r != nil }
func (d Dec) GreaterThan(o Dec) bool { return d.Cmp(o) > 0 }

// bcQuo is bc's division at scale 20 (bc -l): the quotient truncated
// toward zero after 20 decimals.
func (d Dec) bcQuo(o Dec) Dec { return d.quo(o).trunc(20) }

// trunc drops the decimals after n, toward zero.
func (d Dec) trunc(n int) Dec {
	scale := pow10(n)
	q := new(big.Int).Quo(new(big.Int).Mul(d.r.Num(), scale), d.r.Denom())
	return Dec{new(big.Rat).SetFrac(q, scale)}
}

// Round rounds to n decimals, ties to even (what printf does with an exact
// tie; the script's printf and awk round their binary approximations, which
// only differs on a tie that binary cannot hold exactly).
func (d Dec) Round(n int) Dec {
	scale := pow10(n)
	num := new(big.Int).Mul(d.r.Num(), scale)
	q, m := new(big.Int).QuoRem(num, d.r.Denom(), new(big.Int))
	// Compare twice the remainder with the denominator.
	twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
	switch c := twice.Cmp(d.r.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Dec{new(big.Rat).SetFrac(q, scale)}
}

// Format prints with n decimals (rounding ties to even), as printf "%.*f"
// does; n < 0 prints the exact value with as many decimals as it needs (up to
// 40).
func (d Dec) Format(n int) string {
	if n < 0 {
		s := d.r.FloatString(40)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return d.Round(n).r.FloatString(n)
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// printfBinary formats d as C's printf("%.*f") does after the value went
// through a binary float of mant bits: 64 for bash's printf builtin (x86-64
// long double), 53 for awk (double). The script prints every price this
// way, so from about 15 significant digits on its output is the binary
// approximation's, and so is ours.
func (d Dec) printfBinary(p int, mant uint) string {
	f := new(big.Float).SetPrec(mant).SetMode(big.ToNearestEven).SetRat(d.r)
	return f.Text('f', p)
}
