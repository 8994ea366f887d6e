// Package imagematch matches container images against an operator's deny-
// and allowlists, comparing image references after normalization with the
// distribution project's reference parser, as the container runtime reads
// them: "packetstream/psclient" is docker.io/packetstream/psclient, so it
// matches "docker.io/packetstream/psclient", "index.docker.io/...:latest"
// and "packetstream/psclient@sha256:...", and not "packetstream/psclient-x"
// or "evil.io/packetstream/psclient".
package imagematch

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Entry is one list entry: an image reference (a repository, optionally
// with a tag or digest), or "regex:<RE2>" matched against the whole
// normalized reference.
type Entry struct {
	Text string
	// repo is the normalized repository; tag and digest, if given, must
	// equal the image's.
	repo, tag, digest string
	re                *regexp.Regexp
}

// ParseEntry reads one entry; the error names it and says what is wrong.
func ParseEntry(s string) (Entry, error) {
	text := strings.TrimSpace(s)
	e := Entry{Text: text}
	if text == "" {
		return e, errors.New("empty entry")
	}
	if pattern, ok := strings.CutPrefix(text, "regex:"); ok {
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return e, fmt.Errorf("entry %q: bad regular expression: %v", text, err)
		}
		e.re = re
		return e, nil
	}
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return e, fmt.Errorf("entry %q: not an image reference: %v", text, err)
	}
	e.repo = named.Name()
	if t, ok := named.(reference.Tagged); ok {
		e.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		e.digest = d.Digest().String()
	}
	return e, nil
}

// Image is a parsed image reference.
type Image struct {
	// Normalized is the full normalized reference:
	// docker.io/library/nginx:latest, registry.io/a/b@sha256:...
	Normalized        string
	repo, tag, digest string
}

// ParseImage normalizes an image as the runtime does (docker.io and
// library/ for short names, :latest when neither tag nor digest is given).
func ParseImage(s string) (Image, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(s))
	if err != nil {
		return Image{}, fmt.Errorf("image %q: not an image reference: %v", s, err)
	}
	named = reference.TagNameOnly(named)
	img := Image{Normalized: named.String(), repo: named.Name()}
	if t, ok := named.(reference.Tagged); ok {
		img.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		img.digest = d.Digest().String()
	}
	return img, nil
}

// Matches tells whether the entry covers the image.
func (e Entry) Matches(img Image) bool {
	if e.re != nil {
		return e.re.MatchString(img.Normalized)
	}
	if e.repo != img.repo {
		return false
	}
	if e.tag != "" && e.tag != img.tag {
		return false
	}
	if e.digest != "" && e.digest != img.digest {
		return false
	}
	return true
}

// Lists are a denylist and an allowlist; the allowlist wins.
type Lists struct {
	Deny, Allow []Entry
}

// ParseLists reads both lists; every bad entry is named in the error.
func ParseLists(deny, allow []string) (Lists, error) {
	var l Lists
	var errs []error
	for _, s := range deny {
		e, err := ParseEntry(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("denylist: %w", err))
			continue
		}
		l.Deny = append(l.Deny, e)
	}
	for _, s := range allow {
		e, err := ParseEntry(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowlist: %w", err))
			continue
		}
		l.Allow = append(l.Allow, e)
	}
	return l, errors.Join(errs...)
}

// Denied returns the denylist entry that covers the image, unless an
// allowlist entry covers it too; ok is false when the image may run.
func (l Lists) Denied(img Image) (Entry, bool) {
	for _, a := range l.Allow {
		if a.Matches(img) {
			return Entry{}, false
		}
	}
	for _, d := range l.Deny {
		if d.Matches(img) {
			return d, true
		}
	}
	return Entry{}, false
}
