package pricing

import (
	"bytes"
	"math/big"
	"math/rand"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bcReads evaluates a price as the script does, inside its bc arithmetic
// ("(cpu * $PRICE_TARGET_CPU)"), with the real bc. ok is false when bc
// refuses it (anything on stderr, nothing on stdout).
func bcReads(t testing.TB, bc, v string) (*big.Rat, bool) {
	t.Helper()
	cmd := exec.Command(bc, "-l")
	cmd.Stdin = strings.NewReader("(1 * " + v + ")\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // bc exits 0 on syntax errors; stderr says it
	out := strings.TrimSpace(strings.ReplaceAll(stdout.String(), "\\\n", ""))
	if stderr.Len() > 0 || out == "" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(out)
	if !ok {
		t.Fatalf("bc printed %q for %q", out, v)
	}
	return r, true
}

func needBC(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a differential test against bc; run without -short (make test)")
	}
	bc, err := exec.LookPath("bc")
	require.NoError(t, err, "this differential test needs bc, the script's calculator (Debian: apt-get install bc; .ci/run installs it)")
	return bc
}

// checkAgainstBC holds ParseTarget to bc: what it reads, bc reads to the
// same value; what it refuses, bc refuses too, or reads as something no
// operator means by a price: a signed value, a name or hex digit, the lone
// point ("last value"), or an expression.
func checkAgainstBC(t testing.TB, bc, v string) {
	if strings.ContainsAny(v, "\n\r;") || !isASCIIPrintable(v) {
		return // one bc statement, as the script builds it
	}
	ours, err := ParseTarget(v)
	theirs, ok := bcReads(t, bc, v)
	if err == nil {
		if !ok {
			t.Fatalf("ParseTarget(%q) = %s, but bc refuses it", v, ours)
		}
		if ours.r.Cmp(theirs) != 0 {
			t.Fatalf("ParseTarget(%q) = %s, bc reads %s", v, ours, theirs.FloatString(20))
		}
		return
	}
	if !ok {
		return
	}
	trimmed := strings.Trim(v, " \t")
	misread := trimmed == "." || theirs.Sign() < 0 ||
		strings.ContainsAny(trimmed, "+-*/^%()!=<>&|") ||
		strings.IndexFunc(trimmed, func(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r == '_' }) >= 0
	if !misread {
		t.Fatalf("ParseTarget(%q) refuses it (%v), but bc reads the plain number %s", v, err, theirs.FloatString(20))
	}
}

func isASCIIPrintable(s string) bool {
	for _, r := range s {
		if r != '\t' && (r < ' ' || r > '~') {
			return false
		}
	}
	return true
}

// Every spelling the issue names, and a few thousand made of the characters
// operators type near a number.
func TestParseTargetReadsAsBC(t *testing.T) {
	bc := needBC(t)
	for _, v := range []string{".5", " 75", "75 ", "75.", "\t.5\t", "007", "0", "0.", "1.60", "+5", "-5", ".", "", " ",
		"lots", "A", "1A", "1e3", "1,5", "1 2", "0x10", "5.5.5", "5-3", "1_0", ". 5", "5 .", "99999999999999999999.000000000000000000001"} {
		checkAgainstBC(t, bc, v)
	}
	rng := rand.New(rand.NewSource(20261201))
	const alphabet = "0123456789. \t+-aAeE,x_"
	for i := 0; i < 600; i++ {
		b := make([]byte, rng.Intn(7))
		for j := range b {
			b[j] = alphabet[rng.Intn(len(alphabet))]
		}
		checkAgainstBC(t, bc, string(b))
	}
}

// go test ./lib/pricing -run '^$' -fuzz FuzzParseTargetAgainstBC
func FuzzParseTargetAgainstBC(f *testing.F) {
	bc := needBC(f)
	for _, seed := range []string{".5", " 75", "75.", "+5", "-5", "lots", "A", "1,5"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 40 {
			return
		}
		checkAgainstBC(t, bc, v)
	})
}
