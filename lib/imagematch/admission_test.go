package imagematch

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
)

// patternsAgree checks that every entry's admission pattern matches the
// image's normalized reference exactly when the entry matches the image.
func patternsAgree(t testing.TB, entries []Entry, img Image) {
	t.Helper()
	for _, e := range entries {
		re, err := regexp.Compile(e.Pattern())
		require.NoError(t, err, "entry %q: pattern %q", e.Text, e.Pattern())
		if got, want := re.MatchString(img.Normalized), e.Matches(img); got != want {
			t.Fatalf("entry %q, image %q: pattern %q says %v, Matches %v", e.Text, img.Normalized, e.Pattern(), got, want)
		}
	}
}

func TestAdmissionPatternsDecideAsTheMatcher(t *testing.T) {
	l, err := ParseLists(imagematchtest.Deny, imagematchtest.Allow)
	require.NoError(t, err)
	for _, c := range imagematchtest.Cases {
		if c.ImageID || c.Invalid {
			continue
		}
		img, err := ParseImage(c.Ref)
		require.NoError(t, err, c.Ref)
		patternsAgree(t, append(append([]Entry{}, l.Deny...), l.Allow...), img)
	}
}

func TestAdmissionParams(t *testing.T) {
	deny := make([]string, 12)
	for i := range deny {
		deny[i] = "example.com/miner" + strings.Repeat("x", i)
	}
	l, err := ParseLists(deny, []string{"*/miner:audited"})
	require.NoError(t, err)
	p := l.AdmissionParams()
	// Two digits for twelve entries, so the first in order sorts first.
	assert.Equal(t, "example.com/miner", p["deny.00.entry"])
	assert.Equal(t, "example.com/minerxxxxxxxxxxx", p["deny.11.entry"])
	assert.Equal(t, `^example\.com/minerxxxxxxxxxxx[:@].*$`, p["deny.11"])
	assert.Equal(t, "*/miner:audited", p["allow.0.entry"])
	assert.Equal(t, `^[^/]+/(?:library/)?miner:audited(?:@.*)?$`, p["allow.0"])
	assert.Len(t, p, 6+2*13)
	// The grammar is the parser's, and the digests those linked here.
	assert.Equal(t, "^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$", p["digest"])
	assert.Equal(t, "255", p["nameMax"])
	assert.Contains(t, strings.Split(p["hub"], ","), "registry-1.docker.io:443")
	ref := regexp.MustCompile(p["reference"])
	assert.True(t, ref.MatchString("docker.io/library/nginx:1.27@"+imagematchtest.DigestOther))
	assert.False(t, ref.MatchString("nginx:"))
	assert.True(t, regexp.MustCompile(p["domain"]).MatchString("localhost:5000"))
	assert.False(t, regexp.MustCompile(p["domain"]).MatchString("my_registry.io"))
}

func TestAdmissionCost(t *testing.T) {
	short, err := ParseLists([]string{"packetstream/psclient"}, nil)
	require.NoError(t, err)
	// ^docker\.io/packetstream/psclient[:@].*$ is 39 bytes: 10 units, by
	// 13 for a 128-byte reference.
	assert.Equal(t, 20*13*10, short.AdmissionCost(20, 128))
	long := make([]string, 1000)
	for i := range long {
		long[i] = fmt.Sprintf("registry.example.com/team-%d/miner", i)
	}
	many, err := ParseLists(long, nil)
	require.NoError(t, err)
	assert.Greater(t, many.AdmissionCost(20, 128), AdmissionCostLimit, "a thousand entries against a pod of twenty containers")
}
