package kube

import (
	"errors"
	"strings"
)

// SplitNamespaced reads "namespace/name", as flags name one object.
func SplitNamespaced(s string) (namespace, name string, err error) {
	ns, n, ok := strings.Cut(s, "/")
	if !ok || ns == "" || n == "" || strings.Contains(n, "/") {
		return "", "", errors.New("want namespace/name")
	}
	return ns, n, nil
}
