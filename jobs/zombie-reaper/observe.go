package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// attributeAll finds the pod of every parent the plan does not ignore
// (cgroups, then this node's pods, listed once a pass), by PID.
func (r *reaper) attributeAll(ctx context.Context, parents []parent, log zerolog.Logger) map[int]where {
	index := &podIndex{kube: r.env.Clients.Kube, node: r.opts.nodeName, pageSize: r.env.Common.PageSize}
	out := map[int]where{}
	for _, p := range parents {
		if p.ignore == "" {
			plog := log.With().Int("pid", p.proc.PID).Str("comm", p.proc.Comm).Int("zombies", len(p.zombies)).Logger()
			out[p.proc.PID] = r.attribute(ctx, index, p, plog)
		}
	}
	return out
}

// attribute finds the pod and lease of a parent; without them the action is
// still taken (a full PID table harms every tenant of the node), recorded on
// the node.
func (r *reaper) attribute(ctx context.Context, index *podIndex, p parent, log zerolog.Logger) where {
	if r.opts.nodeName == "" {
		return where{}
	}
	paths, err := r.table.Cgroups(p.proc.PID)
	if err != nil {
		log.Debug().Err(err).Msg("cannot read the parent's cgroups")
		return where{}
	}
	uid, cid, ok := cgroupPod(paths)
	if !ok {
		log.Debug().Strs("cgroups", paths).Msg("the parent's cgroups name no pod")
		return where{}
	}
	w, err := index.lookup(ctx, uid, cid)
	if err != nil {
		log.Warn().Err(err).Str("pod_uid", uid).Msg("cannot attribute the parent to a pod")
	}
	return w
}

// The kubelet puts each pod's containers in a cgroup named after the pod's
// UID, with dashes (cgroupfs driver: .../pod<uid>/<container id>) or
// underscores (systemd driver: ...-pod<uid_with_underscores>.slice/
// cri-containerd-<container id>.scope).
var (
	podUIDInCgroup      = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)
	containerIDInCgroup = regexp.MustCompile(`(?:^|[-/])([0-9a-f]{64})(?:\.scope)?$`)
)

// cgroupPod finds the pod UID and container ID in a process's cgroup paths.
func cgroupPod(paths []string) (podUID, containerID string, ok bool) {
	for _, p := range paths {
		m := podUIDInCgroup.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		podUID = strings.ReplaceAll(m[1], "_", "-")
		if c := containerIDInCgroup.FindStringSubmatch(p); c != nil {
			containerID = c[1]
		}
		return podUID, containerID, true
	}
	return "", "", false
}

// where is the pod and container a process runs in.
type where struct {
	pod       *corev1.Pod
	container string
	lease     string // the lease ID, if the pod's namespace is a lease's
}

// podIndex finds this node's pods by UID, read once per pass when needed.
type podIndex struct {
	kube     kubernetes.Interface
	node     string
	pageSize int64

	loaded bool
	byUID  map[string]*corev1.Pod
	leases map[string]string // namespace -> lease ID ("" if none)
}

func (x *podIndex) load(ctx context.Context) error {
	if x.loaded {
		return nil
	}
	x.byUID, x.leases = map[string]*corev1.Pod{}, map[string]string{}
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", x.node).String()}
	err := kube.Each(ctx, x.pageSize, opts,
		func(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
			return x.kube.CoreV1().Pods("").List(ctx, o)
		},
		func(p *corev1.Pod) error {
			x.byUID[string(p.UID)] = p
			return nil
		})
	if err != nil {
		return fmt.Errorf("list the pods of node %s: %w", x.node, err)
	}
	x.loaded = true
	return nil
}

// lookup attributes a pod UID and container ID to a pod, its container and
// its lease.
func (x *podIndex) lookup(ctx context.Context, podUID, containerID string) (where, error) {
	if err := x.load(ctx); err != nil {
		return where{}, err
	}
	pod := x.byUID[podUID]
	if pod == nil {
		return where{}, fmt.Errorf("no pod with UID %s on node %s", podUID, x.node)
	}
	w := where{pod: pod}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if containerID != "" && strings.HasSuffix(cs.ContainerID, "://"+containerID) {
			w.container = cs.Name
		}
	}
	lease, ok := x.leases[pod.Namespace]
	if !ok {
		ns, err := x.kube.CoreV1().Namespaces().Get(ctx, pod.Namespace, metav1.GetOptions{})
		if err != nil {
			return w, fmt.Errorf("read namespace %s for its lease labels: %w", pod.Namespace, err)
		}
		if id, err := akash.LeaseIDFromLabels(ns.Labels); err == nil {
			lease = id.String()
		}
		x.leases[pod.Namespace] = lease
	}
	w.lease = lease
	return w, nil
}
