package kube

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/pager"
)

// DefaultPageSize is the LIST page size: large enough that a provider of
// thousands of leases is read in a handful of requests, small enough that one
// page never holds the API server long.
const DefaultPageSize = 500

// Each calls fn for every object of a LIST, read in pages of pageSize (0
// means DefaultPageSize). list is the typed client's List method, e.g.
// clientset.AppsV1().Deployments("").List; T is the item type
// (appsv1.Deployment). fn may keep what it needs of the item; a page is
// garbage once fn has seen it, and at most one page is read ahead, so a job
// that keeps little stays small however large the cluster. If a continue
// token expires midway, client-go's pager falls back to one full LIST rather
// than returning a partial answer.
func Each[T any, L runtime.Object](ctx context.Context, pageSize int64, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error), fn func(*T) error) error {
	p := pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		return list(ctx, opts)
	}))
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	p.PageSize = pageSize
	p.PageBufferSize = 0
	return p.EachListItem(ctx, opts, func(obj runtime.Object) error {
		item, ok := any(obj).(*T)
		if !ok {
			return fmt.Errorf("list returned %T, want *%T", obj, *new(T))
		}
		return fn(item)
	})
}

// ListAll reads every object of a LIST in pages (see Each) and returns them all.
func ListAll[T any, L runtime.Object](ctx context.Context, pageSize int64, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error)) ([]T, error) {
	var items []T
	err := Each(ctx, pageSize, opts, list, func(item *T) error {
		items = append(items, *item)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// ListMetadata reads only the metadata (names, labels, owners, timestamps) of
// every object of a resource, cluster-wide or in one namespace, in pages.
func ListMetadata(ctx context.Context, client metadata.Interface, gvr schema.GroupVersionResource,
	namespace string, pageSize int64, opts metav1.ListOptions) ([]metav1.PartialObjectMetadata, error) {
	return ListAll[metav1.PartialObjectMetadata](ctx, pageSize, opts,
		func(ctx context.Context, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
			return client.Resource(gvr).Namespace(namespace).List(ctx, opts)
		})
}
