//go:build tools

// Package etcd pins the etcd server the simulated cluster runs. A module of
// its own: etcd's server module carries replace directives, so it cannot be
// installed with `go install pkg@version`, and 3.5 (unlike Debian's 3.4)
// serves the watch progress requests that newer clients' watch lists need.
package etcd

import _ "go.etcd.io/etcd/server/v3"
