//go:build tools

// Package prometheus pins the Prometheus server the blocker tests ask
// whether an alert fires. A module of its own: Prometheus' go.mod carries
// exclude directives, so it cannot be installed with `go install
// pkg@version`, and its dependencies (cloud SDKs for service discovery)
// stay out of the product's module.
package prometheus

import _ "github.com/prometheus/prometheus/cmd/prometheus"
