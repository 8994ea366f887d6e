// Package akashtest builds provider-shaped state in a (simulated) cluster the
// way akash-provider does, and carries the Akash CRDs the simulated cluster
// installs. Tests and the demo import it; the jobs never do.
package akashtest

import (
	"embed"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml gatewaycrds/*.yaml
var crdFiles embed.FS

// CRDs are the provider's custom resource definitions: manifests,
// providerhosts and providerleasedips in akash.network/v2beta2.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return readCRDs("crds/*.yaml")
}

// GatewayCRDs stand in for the Gateway API's, whose HTTPRoutes the provider
// writes in gateway-api mode.
func GatewayCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return readCRDs("gatewaycrds/*.yaml")
}

func readCRDs(pattern string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(crdFiles, pattern)
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, name := range names {
		raw, err := crdFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(raw, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, crd)
	}
	return out, nil
}
