package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// allowEntry justifies one kube-score check on the objects its pattern
// names (Kind/name, with * and ? as in path.Match).
type allowEntry struct {
	check, object, reason string
	line                  int
	used                  bool
}

type allowlist []*allowEntry

// readAllowlist reads lines of "check-id Kind/name-pattern reason...";
// a line without a reason is refused, as is a pattern path.Match refuses.
func readAllowlist(file string) (allowlist, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("the allowlist: %w", err)
	}
	defer f.Close()
	var out allowlist
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: want a check ID, a Kind/name pattern and the reason: %q", file, n, line)
		}
		if _, err := path.Match(fields[1], ""); err != nil {
			return nil, fmt.Errorf("%s:%d: pattern %q: %w", file, n, fields[1], err)
		}
		out = append(out, &allowEntry{check: fields[0], object: fields[1], reason: strings.Join(fields[2:], " "), line: n})
	}
	return out, sc.Err()
}

// justifies says whether an entry covers the finding, and marks it used.
func (a allowlist) justifies(f finding) bool {
	ok := false
	for _, e := range a {
		if m, _ := path.Match(e.object, f.object); m && e.check == f.check {
			e.used = true
			ok = true
		}
	}
	return ok
}

// unused are the entries no finding needed.
func (a allowlist) unused() []*allowEntry {
	var out []*allowEntry
	for _, e := range a {
		if !e.used {
			out = append(out, e)
		}
	}
	return out
}
