package charts

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// endpoint is a pod as a NetworkPolicy sees it: its namespace's labels
// and its own.
type endpoint struct {
	namespace   string
	nsLabels    map[string]string
	labels      map[string]string
	description string
}

func nsEndpoint(namespace string, podLabels map[string]string, description string) endpoint {
	return endpoint{namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace}, labels: podLabels, description: description}
}

func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return s.Matches(labels.Set(set))
}

// admits says whether the policies let src connect to dst on TCP port
// (a named port resolved through named), as the NetworkPolicy API defines
// it: a pod no Ingress policy selects accepts everything; one that some
// select accepts what one of them allows (a peer with only a podSelector
// means the policy's own namespace; both selectors, both must match).
func admits(t *testing.T, policies []networkingv1.NetworkPolicy, src, dst endpoint, port string, named map[string]int32) bool {
	t.Helper()
	if n, ok := named[port]; ok {
		port = fmt.Sprint(n)
	}
	selected := false
	for _, p := range policies {
		if p.Namespace != dst.namespace || !selects(t, &p.Spec.PodSelector, dst.labels) {
			continue
		}
		selected = true
		for _, rule := range p.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				want := rp.Port.String()
				if n, ok := named[want]; ok {
					want = fmt.Sprint(n)
				}
				portOK = portOK || want == port
			}
			peerOK := len(rule.From) == 0
			for _, peer := range rule.From {
				nsOK := p.Namespace == src.namespace
				if peer.NamespaceSelector != nil {
					nsOK = selects(t, peer.NamespaceSelector, src.nsLabels)
				}
				podOK := peer.PodSelector == nil || selects(t, peer.PodSelector, src.labels)
				peerOK = peerOK || (nsOK && podOK)
			}
			if portOK && peerOK {
				return true
			}
		}
	}
	return !selected
}

func networkPolicies(t *testing.T, objs map[string]*unstructured.Unstructured) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" {
			out = append(out, *typed[networkingv1.NetworkPolicy](t, o))
		}
	}
	return out
}

// With networkPolicy.enabled, the provider's pod (as the akash-provider
// chart labels it) can ask bid-price for a price and a tenant's pod cannot;
// Prometheus scrapes bid-price and zombie-reaper when named in metricsFrom;
// the CronJobs' pods accept nothing; other pods of the namespace, the
// provider among them, are not touched.
func TestNetworkPolicy(t *testing.T) {
	values := map[string]any{
		"networkPolicy": map[string]any{"enabled": true, "metricsFrom": []any{
			map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}},
		}},
		"bidPrice":     map[string]any{"enabled": true, "metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}},
		"zombieReaper": map[string]any{"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}},
	}
	objs, notes, err := render(t, values)
	require.NoError(t, err)
	policies := networkPolicies(t, objs)
	require.Len(t, policies, 3, "one that denies, one for each listener")
	assert.Contains(t, notes, "kubectl -n akash-services get networkpolicy -l app.kubernetes.io/instance=akash-janitor")

	dep := typed[appsv1.Deployment](t, objs["Deployment/akash-janitor-bid-price"])
	bidPrice := nsEndpoint("akash-services", dep.Spec.Template.Labels, "bid-price")
	ds := typed[appsv1.DaemonSet](t, objs["DaemonSet/akash-janitor-zombie-reaper"])
	reaper := nsEndpoint("akash-services", ds.Spec.Template.Labels, "zombie-reaper")
	cj, pod := cronJobPod(t, objs, "kill-lease-by-image")
	job := nsEndpoint("akash-services", cj.Spec.JobTemplate.Spec.Template.Labels, "kill-lease-by-image")
	require.NotEmpty(t, pod.Containers)
	bidPort := map[string]int32{"http": dep.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort}
	reaperPort := map[string]int32{"metrics": ds.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort}

	// provider chart templates/statefulset.yaml: app: <fullname>, with
	// the chart's name and instance labels.
	provider := nsEndpoint("akash-services", map[string]string{"app": "akash-provider", "app.kubernetes.io/name": "provider", "app.kubernetes.io/instance": "akash-provider"}, "the provider")
	tenant := nsEndpoint("0l3bqe1f4oj8dgm6vd2jq8vp5h3cbh6g8eq0c4rlqoge", map[string]string{"akash.network": "true", "akash.network/manifest-service": "web"}, "a tenant")
	prometheus := nsEndpoint("monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}, "Prometheus")
	neighbour := nsEndpoint("akash-services", map[string]string{"app": "operator-inventory"}, "another pod of akash-services")

	assert.True(t, admits(t, policies, provider, bidPrice, "http", bidPort), "the provider asks bid-price")
	assert.True(t, admits(t, policies, prometheus, bidPrice, "http", bidPort), "Prometheus scrapes bid-price")
	assert.False(t, admits(t, policies, tenant, bidPrice, "http", bidPort), "a tenant does not reach bid-price")
	assert.False(t, admits(t, policies, neighbour, bidPrice, "http", bidPort), "nor another pod of the namespace")
	assert.True(t, admits(t, policies, prometheus, reaper, "metrics", reaperPort), "Prometheus scrapes zombie-reaper")
	assert.False(t, admits(t, policies, provider, reaper, "metrics", reaperPort), "nobody else does")
	assert.False(t, admits(t, policies, tenant, reaper, "metrics", reaperPort))
	for _, src := range []endpoint{provider, prometheus, tenant, neighbour} {
		assert.False(t, admits(t, policies, src, job, "8080", nil), "a CronJob's pod accepts nothing from %s", src.description)
		assert.True(t, admits(t, policies, tenant, src, "8443", nil), "%s is not the chart's to restrict", src.description)
	}
	for _, p := range policies {
		assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, p.Spec.PolicyTypes, "%s restricts ingress only", p.Name)
	}

	// Without a PodMonitor, Prometheus is not let in.
	delete(values, "zombieReaper")
	values["bidPrice"] = map[string]any{"enabled": true}
	objs, _, err = render(t, values)
	require.NoError(t, err)
	policies = networkPolicies(t, objs)
	assert.False(t, admits(t, policies, prometheus, bidPrice, "http", bidPort))
	assert.False(t, admits(t, policies, prometheus, reaper, "metrics", reaperPort))
	assert.True(t, admits(t, policies, provider, bidPrice, "http", bidPort))

	// Off by default: no policy.
	objs, notes, err = render(t, nil)
	require.NoError(t, err)
	assert.Empty(t, networkPolicies(t, objs))
	assert.NotContains(t, notes, "NetworkPolicy")
}

// A policy that would cut off what the operator turned on is refused at
// install, naming the value.
func TestNetworkPolicyRefusesWhatCutsOff(t *testing.T) {
	_, _, err := render(t, map[string]any{
		"networkPolicy": map[string]any{"enabled": true},
		"zombieReaper":  map[string]any{"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "networkPolicy.metricsFrom is empty while zombie-reaper's PodMonitor is on")

	_, _, err = render(t, map[string]any{
		"networkPolicy": map[string]any{"enabled": true, "bidPriceFrom": []any{}},
		"bidPrice":      map[string]any{"enabled": true},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "networkPolicy.bidPriceFrom is empty")
}
