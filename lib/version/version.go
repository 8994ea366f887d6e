// Package version is what every binary says it is. It imports nothing
// beyond the standard library, so the smallest binary can carry it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are stamped at build time (-ldflags -X); without a
// stamp, Commit is the VCS revision Go recorded in the binary.
var (
	Version = "dev"
	Commit  = ""
)

// Line is what --version and `version` print: the name, version, commit
// and Go version.
func Line(name string) string {
	commit := Commit
	if commit == "" {
		commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	return fmt.Sprintf("%s %s (commit %s, %s)", name, Version, commit, runtime.Version())
}
