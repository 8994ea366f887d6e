package imagematch

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
)

// decide is the decision on one reference of the table: the deny entry,
// "" to run, "invalid" for no reference.
func decide(t *testing.T, l Lists, c imagematchtest.Case) string {
	t.Helper()
	parse := ParseImage
	if c.ImageID {
		parse = ParseImageID
	}
	img, err := parse(c.Ref)
	if err != nil {
		return "invalid"
	}
	e, ok := l.Denied(img)
	if !ok {
		return ""
	}
	return e.Text
}

func TestTheTable(t *testing.T) {
	l, err := ParseLists(imagematchtest.Deny, imagematchtest.Allow)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(imagematchtest.Cases), 30)
	for _, c := range imagematchtest.Cases {
		want := c.Denied
		if c.Invalid {
			want = "invalid"
		}
		assert.Equal(t, want, decide(t, l, c), "%s (%s)", c.Ref, c.Why)
	}
}

func TestAllowlistWins(t *testing.T) {
	l, err := ParseLists([]string{"regex:.*"}, []string{"nginx", "ghcr.io/akash-network/provider"})
	require.NoError(t, err)
	for image, want := range map[string]bool{
		"docker.io/library/nginx:1.27":         false,
		"registry-1.docker.io/nginx":           false,
		"ghcr.io/akash-network/provider:0.6.4": false,
		"ubuntu:24.04":                         true,
	} {
		img, err := ParseImage(image)
		require.NoError(t, err)
		_, denied := l.Denied(img)
		assert.Equal(t, want, denied, image)
	}
}

func TestBadEntriesAreNamed(t *testing.T) {
	_, err := ParseLists([]string{"good/image", "Bad/Upper", "regex:(", "", "docker.io/*/psclient", "sha256:abcd" + strings.Repeat("0", 60) + "zz"},
		[]string{"also bad:"})
	require.Error(t, err)
	for _, want := range []string{`denylist: entry "Bad/Upper": not an image reference`, `denylist: entry "regex:(": bad regular expression`,
		"denylist: empty entry", `allowlist: entry "also bad:"`, `entry "docker.io/*/psclient": '*' stands only at the start`,
		`entry "sha256:abcd`} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = ParseImage("NGINX")
	assert.ErrorContains(t, err, `image "NGINX": not an image reference`)
	_, err = ParseImageID("sha256:" + strings.Repeat("g", 64))
	assert.ErrorContains(t, err, `image ID "sha256:gggg`)
}

// A program that links imagematch alone parses digest references: the
// package does not rely on another to have linked crypto/sha256.
func TestDigestsWithoutOtherPackages(t *testing.T) {
	out, err := exec.Command("go", "run", "./testdata/onlyimagematch", "packetstream/psclient@"+imagematchtest.DigestOther, imagematchtest.DigestDenied).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "docker.io/packetstream/psclient@"+imagematchtest.DigestOther+"\n"+imagematchtest.DigestDenied+"\n", string(out))
}

func FuzzMatch(f *testing.F) {
	for _, c := range imagematchtest.Cases {
		f.Add(imagematchtest.Deny[0], c.Ref)
	}
	f.Add("*/x/y", "quay.io/x/y:1")
	f.Add("regex:.*x.*", "quay.io/a/b@"+imagematchtest.DigestOther)
	lists, err := ParseLists(imagematchtest.Deny, imagematchtest.Allow)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, entry, image string) {
		// Nothing panics, whatever the input.
		e, entryErr := ParseEntry(entry)
		_, _ = ParseImageID(image)
		img, err := ParseImage(image)
		if err != nil {
			return
		}
		// The normalized reference is a reference, normalizes to itself,
		// and gets the same decision as the spelling it came from.
		again, err := ParseImage(img.Normalized)
		if err != nil {
			t.Fatalf("normalized %q does not parse: %v", img.Normalized, err)
		}
		if again != img {
			t.Fatalf("%q normalizes to %q, which normalizes to %q", image, img.Normalized, again.Normalized)
		}
		d1, ok1 := lists.Denied(img)
		d2, ok2 := lists.Denied(again)
		if ok1 != ok2 || d1.Text != d2.Text {
			t.Fatalf("%q and its normalized %q get different decisions", image, img.Normalized)
		}
		// An entry for the image's own normalized reference always matches.
		self, err := ParseEntry(img.Normalized)
		if err != nil {
			t.Fatalf("normalized %q does not parse as an entry: %v", img.Normalized, err)
		}
		if !self.Matches(img) {
			t.Fatalf("%q does not match itself", img.Normalized)
		}
		// The admission policy's patterns decide as Matches does.
		patternsAgree(t, append(append([]Entry{self}, lists.Deny...), lists.Allow...), img)
		if entryErr == nil {
			patternsAgree(t, []Entry{e}, img)
		}
	})
}
