// Package imagematch matches container images against an operator's deny-
// and allowlists, comparing image references after normalization with the
// distribution project's reference parser, as the container runtime reads
// them: "packetstream/psclient" is docker.io/packetstream/psclient, so it
// matches "docker.io/packetstream/psclient", "index.docker.io/...:latest",
// "registry-1.docker.io/..." and "packetstream/psclient@sha256:...", and not
// "packetstream/psclient-x" or "evil.io/packetstream/psclient".
//
// Entries:
//
//	repo[:tag|@digest]     that repository (Docker Hub's names are one registry)
//	*/path[:tag|@digest]   that path under any registry (mirrors)
//	**/path[:tag|@digest]  that path under any registry and any path prefix
//	                       (proxy caches: harbor.example.com/hub/<path>)
//	sha256:<hex>           the image with that digest, whatever its name
//	regex:<RE2>            the whole normalized reference
//
// An entry with a digest matches the image with that digest whatever name
// it is pulled by: the digest names the content. The allowlist wins.
package imagematch

import (
	// The digest algorithms, linked here: go-digest validates a digest
	// only for an algorithm some package of the program has linked.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// dockerHub are the names Docker Hub's registry answers to; containerd
// pulls the same image under each.
var dockerHub = map[string]bool{
	"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true, "registry.hub.docker.com": true,
	"docker.io:443": true, "index.docker.io:443": true, "registry-1.docker.io:443": true, "registry.hub.docker.com:443": true,
}

// scope is how much of a reference an entry compares.
type scope int

const (
	scopeRepo       scope = iota // registry and path
	scopeAnyDomain               // the path, under any registry
	scopeAnyPrefix               // the path's end, under any registry
	scopeDigestOnly              // the digest alone
	scopeRegex                   // the whole normalized reference
)

// Entry is one list entry.
type Entry struct {
	Text  string
	scope scope
	// domain and path of the normalized repository; tag and digest, if
	// given, must equal the image's.
	domain, path, tag, digest string
	re                        *regexp.Regexp
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
		e.scope, e.re = scopeRegex, re
		return e, nil
	}
	if looksLikeDigest(text) {
		d, err := digest.Parse(text)
		if err != nil {
			return e, fmt.Errorf("entry %q: not a digest: %v", text, err)
		}
		e.scope, e.digest = scopeDigestOnly, d.String()
		return e, nil
	}
	ref := text
	if rest, ok := strings.CutPrefix(text, "**/"); ok {
		e.scope, ref = scopeAnyPrefix, "any.invalid/"+rest
	} else if rest, ok := strings.CutPrefix(text, "*/"); ok {
		e.scope, ref = scopeAnyDomain, "any.invalid/"+rest
	}
	if strings.Contains(strings.TrimPrefix(strings.TrimPrefix(text, "**/"), "*/"), "*") {
		return e, fmt.Errorf("entry %q: '*' stands only at the start, as */path or **/path (or use regex:)", text)
	}
	r, err := parse(ref)
	if err != nil {
		return e, fmt.Errorf("entry %q: not an image reference: %v", text, err)
	}
	e.domain, e.path, e.tag, e.digest = r.domain, r.path, r.tag, r.digest
	if e.scope != scopeRepo {
		e.domain = ""
	}
	return e, nil
}

// looksLikeDigest tells a bare digest ("sha256:<hex>") from a reference
// with a tag, which it would otherwise parse as (repository "sha256").
func looksLikeDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	return ok && !strings.Contains(alg, "/") && len(hex) >= 32 && digest.Algorithm(alg).Available()
}

// Image is a parsed image reference.
type Image struct {
	// Normalized is the full normalized reference:
	// docker.io/library/nginx:latest, registry.io/a/b@sha256:..., or a bare
	// digest for a runtime's image ID that has no name.
	Normalized                string
	domain, path, tag, digest string
}

// ParseImage normalizes an image as the runtime does (docker.io and
// library/ for short names and Docker Hub's other names, :latest when
// neither tag nor digest is given, the registry's name in lowercase).
func ParseImage(s string) (Image, error) {
	r, err := parse(strings.TrimSpace(s))
	if err != nil {
		return Image{}, fmt.Errorf("image %q: not an image reference: %v", s, err)
	}
	if r.tag == "" && r.digest == "" {
		r.tag = "latest"
	}
	return Image{Normalized: r.String(), domain: r.domain, path: r.path, tag: r.tag, digest: r.digest}, nil
}

// ParseImageID reads what a runtime reports as a container's image ID
// (status.containerStatuses[].imageID): a name with the digest it resolved
// ("docker.io/library/nginx@sha256:..."), possibly behind a scheme
// ("docker-pullable://"), or a bare digest.
func ParseImageID(s string) (Image, error) {
	id := strings.TrimSpace(s)
	if _, rest, ok := strings.Cut(id, "://"); ok {
		id = rest
	}
	if looksLikeDigest(id) {
		d, err := digest.Parse(id)
		if err != nil {
			return Image{}, fmt.Errorf("image ID %q: not a digest: %v", s, err)
		}
		return Image{Normalized: d.String(), digest: d.String()}, nil
	}
	img, err := ParseImage(id)
	if err != nil {
		return Image{}, fmt.Errorf("image ID %q: %w", s, err)
	}
	return img, nil
}

type ref struct{ domain, path, tag, digest string }

func (r ref) String() string {
	s := r.domain + "/" + r.path
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

func parse(s string) (ref, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ref{}, err
	}
	r := ref{domain: reference.Domain(named), path: reference.Path(named)}
	if r.domain == "" {
		// The first component reads as a registry ("my_registry.io/x")
		// that the grammar does not take for a host: no runtime can pull
		// it, and no normalized form would parse again.
		return ref{}, fmt.Errorf("%q is no registry host name", strings.SplitN(s, "/", 2)[0])
	}
	if strings.ContainsAny(r.domain, ".:") {
		// Host names are case-blind. A first component that is a host only
		// because of its capitals ("Registry/x") keeps them: lowercased, it
		// would read as a Docker Hub path.
		r.domain = strings.ToLower(r.domain)
	}
	if dockerHub[r.domain] {
		r.domain = "docker.io"
		if !strings.Contains(r.path, "/") {
			r.path = "library/" + r.path
		}
	}
	if t, ok := named.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	return r, nil
}

// Matches tells whether the entry covers the image.
func (e Entry) Matches(img Image) bool {
	switch e.scope {
	case scopeRegex:
		return e.re.MatchString(img.Normalized)
	case scopeDigestOnly:
		return e.digest == img.digest
	}
	if e.digest != "" {
		return e.digest == img.digest // the content, whatever its name
	}
	if img.path == "" || (e.tag != "" && e.tag != img.tag) {
		return false
	}
	switch e.scope {
	case scopeAnyDomain:
		return samePath(e.path, img.path)
	case scopeAnyPrefix:
		return samePath(e.path, img.path) || strings.HasSuffix(img.path, "/"+e.path) ||
			(!strings.Contains(e.path, "/") && strings.HasSuffix(img.path, "/library/"+e.path))
	}
	return e.domain == img.domain && e.path == img.path
}

// samePath compares an entry's path with an image's, a one-component path
// (nginx) standing for Docker Hub's library/nginx too.
func samePath(entry, image string) bool {
	return entry == image || (!strings.Contains(entry, "/") && image == "library/"+entry)
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
