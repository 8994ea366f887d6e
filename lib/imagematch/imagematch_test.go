package imagematch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const digest = "sha256:4b9e1f7a6f1c0a6f0a6b3f4e2f6c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c"

func denied(t *testing.T, l Lists, image string) string {
	t.Helper()
	img, err := ParseImage(image)
	require.NoError(t, err, image)
	e, ok := l.Denied(img)
	if !ok {
		return ""
	}
	return e.Text
}

func TestDenylistByNormalizedReference(t *testing.T) {
	l, err := ParseLists([]string{"packetstream/psclient", "ghcr.io/miner/xmrig:6.21", "regex:docker\\.io/.*/(xmrig|t-rex)(:.*)?"}, nil)
	require.NoError(t, err)
	for image, want := range map[string]string{
		"packetstream/psclient":                        "packetstream/psclient",
		"docker.io/packetstream/psclient":              "packetstream/psclient",
		"index.docker.io/packetstream/psclient:latest": "packetstream/psclient",
		"packetstream/psclient@" + digest:              "packetstream/psclient",
		"packetstream/psclient:1.2.3":                  "packetstream/psclient",
		"packetstream/psclient-x":                      "",
		"evil.io/packetstream/psclient":                "",
		"packetstream/psclientx:latest":                "",
		"ghcr.io/miner/xmrig:6.21":                     "ghcr.io/miner/xmrig:6.21",
		"ghcr.io/miner/xmrig:6.22":                     "", // the entry names a tag: only that one
		"ghcr.io/miner/xmrig":                          "", // :latest
		"someone/xmrig":                                "regex:docker\\.io/.*/(xmrig|t-rex)(:.*)?",
		"nginx":                                        "",
		"quay.io/someone/xmrig":                        "",
	} {
		assert.Equal(t, want, denied(t, l, image), image)
	}
}

func TestAllowlistWins(t *testing.T) {
	l, err := ParseLists([]string{"regex:.*"}, []string{"nginx", "ghcr.io/akash-network/provider"})
	require.NoError(t, err)
	assert.Equal(t, "", denied(t, l, "docker.io/library/nginx:1.27"))
	assert.Equal(t, "", denied(t, l, "ghcr.io/akash-network/provider:0.6.4"))
	assert.Equal(t, "regex:.*", denied(t, l, "ubuntu:24.04"))
}

func TestBadEntriesAreNamed(t *testing.T) {
	_, err := ParseLists([]string{"good/image", "Bad/Upper", "regex:(", ""}, []string{"also bad:"})
	require.Error(t, err)
	for _, want := range []string{`denylist: entry "Bad/Upper": not an image reference`, `denylist: entry "regex:(": bad regular expression`,
		"denylist: empty entry", `allowlist: entry "also bad:"`} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = ParseImage("NGINX")
	assert.ErrorContains(t, err, `image "NGINX": not an image reference`)
}

func FuzzMatch(f *testing.F) {
	f.Add("packetstream/psclient", "docker.io/packetstream/psclient:latest")
	f.Add("regex:.*x.*", "quay.io/a/b@"+digest)
	f.Fuzz(func(t *testing.T, entry, image string) {
		e, err := ParseEntry(entry)
		if err != nil {
			return
		}
		img, err := ParseImage(image)
		if err != nil {
			return
		}
		// An entry for the image's own normalized reference always matches.
		self, err := ParseEntry(img.Normalized)
		if err != nil {
			t.Fatalf("normalized %q does not parse as an entry: %v", img.Normalized, err)
		}
		if !self.Matches(img) {
			t.Fatalf("%q does not match itself", img.Normalized)
		}
		_ = e.Matches(img)
	})
}
