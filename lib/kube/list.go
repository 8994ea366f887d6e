package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
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

// EachMetadata calls fn with only the metadata (names, labels, owners,
// timestamps) of every object of a resource, cluster-wide or in one
// namespace, read in pages (see Each).
func EachMetadata(ctx context.Context, client metadata.Interface, gvr schema.GroupVersionResource,
	namespace string, pageSize int64, opts metav1.ListOptions, fn func(*metav1.PartialObjectMetadata) error) error {
	return Each(ctx, pageSize, opts, metadataList(client, gvr, namespace), fn)
}

// ListMetadata reads only the metadata of every object of a resource (see
// EachMetadata) and returns it all.
func ListMetadata(ctx context.Context, client metadata.Interface, gvr schema.GroupVersionResource,
	namespace string, pageSize int64, opts metav1.ListOptions) ([]metav1.PartialObjectMetadata, error) {
	return ListAll[metav1.PartialObjectMetadata](ctx, pageSize, opts, metadataList(client, gvr, namespace))
}

// metadataList is the metadata client's List of one resource, for Each.
func metadataList(client metadata.Interface, gvr schema.GroupVersionResource, namespace string) func(context.Context, metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	return func(ctx context.Context, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
		return client.Resource(gvr).Namespace(namespace).List(ctx, opts)
	}
}

// EachRaw reads a LIST of a custom resource at path (for example
// /apis/akash.network/v2beta2/namespaces/lease/manifests) in pages and calls
// fn with each item's JSON. Custom resources travel as JSON; decoding them
// straight into the caller's type skips the unstructured maps the dynamic
// client builds, which cost several times the bytes. A page is all that is
// held at a time: item is valid only while fn runs (its bytes are reused).
func EachRaw(ctx context.Context, rc rest.Interface, path string, pageSize int64, opts metav1.ListOptions, fn func(item json.RawMessage) error) error {
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	var page struct {
		Metadata struct {
			Continue string `json:"continue"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	for cont := ""; ; {
		req := rc.Get().AbsPath(path).Param("limit", strconv.FormatInt(pageSize, 10))
		if opts.LabelSelector != "" {
			req = req.Param("labelSelector", opts.LabelSelector)
		}
		if opts.FieldSelector != "" {
			req = req.Param("fieldSelector", opts.FieldSelector)
		}
		if cont != "" {
			req = req.Param("continue", cont)
		}
		body, err := req.Do(ctx).Raw()
		if err != nil {
			if apierrors.IsResourceExpired(err) {
				return fmt.Errorf("list %s: the listing outlived its continue token (the API server keeps one about 5 minutes): %w", path, err)
			}
			return fmt.Errorf("list %s: %w", path, err)
		}
		page.Metadata.Continue, page.Items = "", page.Items[:0]
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("list %s: the answer is not a list: %w", path, err)
		}
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
		}
		if cont = page.Metadata.Continue; cont == "" {
			return nil
		}
	}
}
