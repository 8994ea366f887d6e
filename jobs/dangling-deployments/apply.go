package main

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
)

// teardown removes a lease's objects as the provider does (provider
// cluster/kube/client.go TeardownLease: the namespace, the Manifest, the
// ProviderHosts and ProviderLeasedIPs of the lease). Just before, it
// reads the lease by ID again: one that is not ended after all is skipped.
// What is already gone is fine, so an interrupted run is completed by the
// next.
func teardown(ctx context.Context, env *job.Env, client *chain.Client, manifestNS string, a actuator.Action) error {
	id, err := actuator.PayloadOf[akash.LeaseID](a)
	if err != nil {
		return err
	}
	l, err := client.Lease(ctx, id)
	switch {
	case errors.Is(err, chain.ErrNotFound):
	case err != nil:
		return fmt.Errorf("confirm the lease on chain just before tearing down (nothing removed): %w", err)
	case !l.Ended():
		return actuator.Skip("the chain says %s on a second look just before tearing down", l.State)
	}
	ns := id.Namespace()
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	if err := env.Clients.Kube.CoreV1().Namespaces().Delete(ctx, ns, del); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns, err))
	}
	if err := env.Clients.Dynamic.Resource(akash.ManifestsResource).Namespace(manifestNS).Delete(ctx, ns, del); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete Manifest %s: %w", ns, err))
	}
	leaseLabels := id.Labels()
	delete(leaseLabels, akash.LabelNamespace)
	sel := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(leaseLabels).String()}
	if err := env.Clients.Dynamic.Resource(akash.ProviderHostsResource).Namespace(manifestNS).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete the lease's ProviderHosts: %w", err))
	}
	if err := env.Clients.Dynamic.Resource(akash.ProviderLeasedIPsResource).Namespace(manifestNS).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete the lease's ProviderLeasedIPs: %w", err))
	}
	return errors.Join(errs...)
}
