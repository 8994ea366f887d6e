package imagematch

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// The admission policy (the chart's ValidatingAdmissionPolicy) decides in
// CEL, which cannot call the reference parser nor this package. So it
// normalizes a pod's image reference itself, step for step as parse does,
// and compares the result with regular expressions this package writes
// from the lists: one per entry, matching exactly the normalized
// references the entry matches. The parser's own grammar (its regular
// expressions, the digest algorithms linked here, Docker Hub's names)
// reaches the policy the same way, so that a reference this package cannot
// parse is left alone by the policy too.
//
// AdmissionRefusal is in the policy's message for each image it refuses
// (container X: image "Y" is denied by the ... entry "Z"), so a
// ReplicaSet's or StatefulSet's failure to create pods tells whose refusal
// it was.
const AdmissionRefusal = "is denied by the kill-lease-by-image denylist entry"

// AdmissionParams are the policy's parameters: the data of the ImageDenylist
// it reads through paramKind. Keys:
//
//	reference     the anchored grammar of a whole reference
//	domain        the anchored grammar of a registry host[:port]
//	identifier    a bare 64-hex ID, which is no reference
//	digest        the digests that parse (algorithms linked, hex length)
//	nameMax       the longest repository path, in bytes
//	hub           Docker Hub's names, comma-separated
//	deny.NNNN     one denylist entry: a pattern over the normalized reference
//	deny.NNNN.entry  the entry as written, for the refusal's message
//	allow.NNNN    one allowlist entry's pattern (and allow.NNNN.entry)
//
// NNNN is the entry's place in its list, zero-padded to one width, so the
// policy names the first entry that matches, as Denied does.
func (l Lists) AdmissionParams() map[string]string {
	hub := slices.Sorted(maps.Keys(dockerHub))
	p := map[string]string{
		"reference":  reference.ReferenceRegexp.String(),
		"domain":     "^" + reference.DomainRegexp.String() + "$",
		"identifier": "^" + reference.IdentifierRegexp.String() + "$",
		"digest":     digestPattern(),
		"nameMax":    fmt.Sprint(reference.RepositoryNameTotalLengthMax),
		"hub":        strings.Join(hub, ","),
	}
	for list, entries := range map[string][]Entry{"deny": l.Deny, "allow": l.Allow} {
		width := len(fmt.Sprint(len(entries)))
		for i, e := range entries {
			key := fmt.Sprintf("%s.%0*d", list, width, i)
			p[key] = e.Pattern()
			p[key+".entry"] = e.Text
		}
	}
	return p
}

// digestPattern matches the digests digest.Parse accepts in this program:
// an algorithm linked here and its length of lowercase hex.
func digestPattern() string {
	var alts []string
	for _, a := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		if a.Available() {
			alts = append(alts, fmt.Sprintf("%s:[a-f0-9]{%d}", a, a.Size()*2))
		}
	}
	return "^(?:" + strings.Join(alts, "|") + ")$"
}

// Pattern is an RE2 expression that matches the normalized reference
// (Image.Normalized) of exactly the images the entry matches. A normalized
// reference is domain/path, then :tag or @digest or both: path holds no ':'
// or '@', and the domain no '/'.
func (e Entry) Pattern() string {
	q := regexp.QuoteMeta
	switch {
	case e.scope == scopeRegex:
		return e.re.String()
	case e.digest != "": // a digest names the content, whatever the name
		return "^[^@]*@" + q(e.digest) + "$"
	}
	rest := "[:@].*$" // the path ends here: any tag, any digest
	if e.tag != "" {
		rest = ":" + q(e.tag) + "(?:@.*)?$"
	}
	path := q(e.path)
	if !strings.Contains(e.path, "/") {
		path = "(?:library/)?" + path // nginx stands for Docker Hub's library/nginx too
	}
	switch e.scope {
	case scopeAnyDomain:
		return "^[^/]+/" + path + rest
	case scopeAnyPrefix:
		return "^[^/]+/(?:[^:@]*/)?" + q(e.path) + rest
	}
	return "^" + q(e.domain+"/"+e.path) + rest
}

// AdmissionCostLimit is the API server's CEL cost limit for one expression
// of a ValidatingAdmissionPolicy (k8s.io/apiserver's PerCallLimit).
const AdmissionCostLimit = 1_000_000

// AdmissionCost estimates what the policy's heaviest expression costs, in
// the units of the API server's CEL cost model, for a pod of that many
// containers whose image references are refLen bytes long: every deny
// pattern matched against every reference, a match costing about
// ceil(0.1·len(reference))·ceil(0.25·len(pattern)) (cel-go). Past
// AdmissionCostLimit the API server cannot evaluate the policy for such a
// pod, and its failurePolicy decides.
func (l Lists) AdmissionCost(containers, refLen int) int {
	per := 0
	for _, e := range l.Deny {
		per += ceilDiv(refLen+1, 10) * ceilDiv(len(e.Pattern()), 4)
	}
	return containers * per
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
