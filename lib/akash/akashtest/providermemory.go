package akashtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus/providerstatustest"
)

// ProviderMemory stands in for what a running akash-provider keeps in
// memory and reports on its /status: a deployment manager and a
// reservation for every lease it deployed. As the provider does (provider
// cluster/service.go findDeployments, cluster/inventory.go), it rebuilds
// them from the Manifest CRs each time its pod starts (a new pod UID),
// adds the leases deployed since, and forgets none: this stand-in never
// sees a close, as the provider missed the ones that stranded leases
// (support#515). A lease whose namespace is gone keeps its reservation,
// pending rather than active.
type ProviderMemory struct {
	b        *Builder
	provider string

	mu     sync.Mutex
	uid    types.UID
	leases map[string]bool // lease namespaces it holds
}

// ProviderMemory returns the memory of the provider with this address,
// whose pod is akash-services/akash-provider-0.
func (b *Builder) ProviderMemory(provider string) *ProviderMemory {
	return &ProviderMemory{b: b, provider: provider}
}

// Counts is what the provider's /status says now; an error while its pod
// is not running.
func (m *ProviderMemory) Counts() (providerstatustest.Counts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pod, err := m.b.Kube.CoreV1().Pods(ProviderNamespace).Get(ctx, ProviderPod, metav1.GetOptions{})
	if err != nil || pod.DeletionTimestamp != nil {
		return providerstatustest.Counts{}, fmt.Errorf("the provider is not running")
	}
	manifests, err := m.b.Dynamic.Resource(akash.ManifestsResource).Namespace(akash.LeaseNamespace).List(ctx,
		metav1.ListOptions{LabelSelector: akash.LabelLeaseProvider + "=" + m.provider})
	if err != nil {
		return providerstatustest.Counts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pod.UID != m.uid { // started: rebuilt from the Manifests alone
		m.uid, m.leases = pod.UID, map[string]bool{}
	}
	for _, man := range manifests.Items {
		if man.GetDeletionTimestamp() == nil {
			m.leases[man.GetName()] = true
		}
	}
	c := providerstatustest.Counts{Leases: len(m.leases)}
	for ns := range m.leases {
		if _, err := m.b.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			c.Active++
		} else {
			c.Pending++
		}
	}
	return c, nil
}
