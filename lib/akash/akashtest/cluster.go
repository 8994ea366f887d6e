package akashtest

import (
	"context"
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// ClusterOptions are the options of a simulated provider cluster: the Akash
// CRDs and the Gateway API's HTTPRoute installed, the provider's `lease`
// and `akash-services` namespaces created, and the given nodes Ready with
// the labels the inventory operator gives a schedulable node
// (operator/inventory/node-discovery.go: akash.network=true and the beta2
// storage class), unless the node sets them itself.
func ClusterOptions(nodes ...kubetest.Node) kubetest.Options {
	labelled := make([]kubetest.Node, len(nodes))
	for i, n := range nodes {
		labels := map[string]string{akash.LabelAkash: "true", LabelStorageClass: "1"}
		for k, v := range n.Labels {
			labels[k] = v
		}
		n.Labels = labels
		labelled[i] = n
	}
	return kubetest.Options{
		Nodes: labelled,
		Setup: func(ctx context.Context, c *kubetest.Cluster) error {
			crds, err := CRDs()
			if err != nil {
				return fmt.Errorf("akash CRDs: %w", err)
			}
			gateway, err := GatewayCRDs()
			if err != nil {
				return fmt.Errorf("gateway API CRDs: %w", err)
			}
			crds = append(crds, gateway...)
			// InstallCRDs returns once the CRDs are established.
			if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
				return fmt.Errorf("install akash CRDs: %w", err)
			}
			return NewBuilder(c).EnsureProviderNamespaces(ctx)
		},
	}
}

// NewBuilder returns a fixtures builder with admin access to the cluster.
func NewBuilder(c *kubetest.Cluster) *Builder {
	return &Builder{Kube: c.Kube, Dynamic: c.Dynamic()}
}

// Shared returns the test package's shared cluster (see kubetest.Main) and a
// builder for it.
func Shared(t testing.TB) (*kubetest.Cluster, *Builder) {
	t.Helper()
	c := kubetest.Shared(t)
	return c, NewBuilder(c)
}
