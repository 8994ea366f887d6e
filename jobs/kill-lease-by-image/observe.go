package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// observed is what the plan decides from: each lease's Manifest, what its
// pods' runtimes report running, and the provider's live leases on chain.
type observed struct {
	leases []leaseImages
	// invalid are the Manifests that do not parse, for the log.
	invalid []error
	// chain is the provider's active and reclaiming leases as listed.
	chain map[akash.LeaseID]chain.Lease
	// manifestNS is where the Manifests were read (--manifest-namespace).
	manifestNS string
}

// observe reads the cluster, then the provider's live leases on chain.
func observe(ctx context.Context, c *kube.Clients, client *chain.Client, provider, manifestNS string, log zerolog.Logger) (observed, error) {
	o, err := observeCluster(ctx, c, manifestNS)
	if err != nil {
		return o, err
	}
	live, unknown, err := client.LeasesByState(ctx, provider, chain.StateActive, chain.StateReclaiming)
	if err != nil {
		return o, fmt.Errorf("list the provider's leases on chain (nothing was closed): %w", err)
	}
	if len(unknown) > 0 {
		log.Debug().Strs("states", unknown).Msg("the node knows no reclaiming state: no lease is reclaiming")
	}
	o.chain = live
	return o, nil
}

// leaseImages are the images of one lease: its Manifest's, and its pods'.
type leaseImages struct {
	name     string // the Manifest's name: the lease namespace
	id       akash.LeaseID
	idErr    error // the Manifest holds no valid lease ID
	services []serviceImage
	running  []runningImage
}

// serviceImage is what the plan needs of a Manifest's service: no more is
// kept, so that ten thousand Manifests cost little.
type serviceImage struct {
	Name, Image string
}

// runningImage is one container of a lease's pod as the runtime reports it:
// the image it was started from and the digest it resolved.
type runningImage struct {
	pod, container, service string
	image, imageID          string
}

// observeCluster reads every Manifest, then every tenant pod, in two
// paginated LISTs whatever the lease count.
func observeCluster(ctx context.Context, c *kube.Clients, manifestNS string) (observed, error) {
	o := observed{manifestNS: manifestNS}
	byNamespace := map[string]int{}
	err := akash.EachManifest(ctx, c, manifestNS, metav1.ListOptions{}, func(m *akash.Manifest) error {
		id, err := m.Spec.LeaseID.LeaseID()
		services := make([]serviceImage, 0, len(m.Spec.Group.Services))
		for _, svc := range m.Spec.Group.Services {
			services = append(services, serviceImage{Name: svc.Name, Image: svc.Image})
		}
		byNamespace[m.Name] = len(o.leases)
		o.leases = append(o.leases, leaseImages{name: m.Name, id: id, idErr: err, services: services})
		return nil
	}, func(err error) { o.invalid = append(o.invalid, err) })
	if err != nil {
		return o, fmt.Errorf("list Manifests (nothing was closed): %w", err)
	}
	// Tenant pods carry the manifest-service label; the provider's own do not.
	err = kube.Each(ctx, 0, metav1.ListOptions{LabelSelector: akash.LabelManifestService}, c.Kube.CoreV1().Pods("").List, func(p *corev1.Pod) error {
		i, ok := byNamespace[p.Namespace]
		if !ok {
			return nil // a pod whose Manifest is gone: dangling-deployments' matter
		}
		service := p.Labels[akash.LabelManifestService]
		for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, s := range statuses {
				o.leases[i].running = append(o.leases[i].running, runningImage{
					pod: p.Name, container: s.Name, service: service, image: s.Image, imageID: s.ImageID})
			}
		}
		return nil
	})
	if err != nil {
		return o, fmt.Errorf("list the tenant pods (nothing was closed): %w", err)
	}
	return o, nil
}
