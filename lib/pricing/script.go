package pricing

import (
	"errors"
)

// Answer is what the drop-in CLI prints: the price on stdout, or the
// reason on stderr with exit code 1, as the provider expects of its bid
// price script.
type Answer struct {
	Stdout, Stderr string
	Exit           int
	Quote          Quote
}

// AnswerScript prices one order given as the script receives it: the order
// on stdin, the PRICE_TARGET_* environment, and AKT's price in USD
// (invalid if unknown).
func AnswerScript(stdin []byte, lookup func(string) (string, bool), aktUSD Dec) Answer {
	targets, err := TargetsFromEnv(lookup)
	if err != nil {
		return Answer{Stderr: err.Error(), Exit: 1}
	}
	order, err := ParseOrder(stdin)
	if err != nil {
		return Answer{Stderr: err.Error(), Exit: 1}
	}
	q, err := targets.Quote(order, aktUSD)
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) {
			return Answer{Stderr: r.Reason, Exit: 1, Quote: q}
		}
		return Answer{Stderr: err.Error(), Exit: 1, Quote: q}
	}
	return Answer{Stdout: q.Amount, Quote: q}
}
