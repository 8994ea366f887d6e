package charts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/storage/driver"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// install installs the chart with the Helm SDK, as `helm install` does,
// into a new namespace that enforces the given Pod Security level.
func install(t *testing.T, c *kubetest.Cluster, release, namespace, level string, values map[string]any) *action.Configuration {
	t.Helper()
	ctx := context.Background()
	_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	settings := cli.New()
	settings.KubeConfig = c.KubeconfigPath
	settings.SetNamespace(namespace)
	cfg := new(action.Configuration)
	require.NoError(t, cfg.Init(settings.RESTClientGetter(), namespace, "secret", t.Logf))
	chrt, err := loader.Load(chartPath)
	require.NoError(t, err)
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = release, namespace, time.Minute
	rel, err := inst.Run(chrt, values)
	require.NoError(t, err, "helm install %s into %s", release, namespace)
	assert.Equal(t, "deployed", rel.Info.Status.String())
	// One release of a provider closes leases: the next test's install of
	// the chain jobs needs this one gone.
	t.Cleanup(func() { uninstall(t, cfg, release) })
	return cfg
}

// uninstall removes a release if it is still there.
func uninstall(t *testing.T, cfg *action.Configuration, release string) {
	t.Helper()
	if _, err := action.NewUninstall(cfg).Run(release); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) && !strings.Contains(err.Error(), "not found") {
		t.Errorf("helm uninstall %s: %v", release, err)
	}
}

// runCronJobNow does what `kubectl create job --from=cronjob/NAME` does.
func runCronJobNow(t *testing.T, c *kubetest.Cluster, namespace, name string) string {
	t.Helper()
	ctx := context.Background()
	cj, err := c.Kube.BatchV1().CronJobs(namespace).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-manual", Namespace: namespace, Labels: cj.Spec.JobTemplate.Labels},
		Spec:       cj.Spec.JobTemplate.Spec,
	}
	_, err = c.Kube.BatchV1().Jobs(namespace).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	return job.Name
}

// admitted waits until the controller made pods with these labels, or
// reports why it could not (its FailedCreate events).
func admitted(t *testing.T, c *kubetest.Cluster, namespace, selector, owner string) (bool, string) {
	t.Helper()
	ctx := context.Background()
	var refused string
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := c.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		require.NoError(t, err)
		if len(pods.Items) > 0 {
			return true, ""
		}
		events, err := c.Kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", owner),
				fields.OneTermEqualSelector("reason", "FailedCreate")).String()})
		require.NoError(t, err)
		if len(events.Items) > 0 {
			refused = events.Items[0].Message
			return false, refused
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no pod and no FailedCreate event for %s in %s", owner, namespace)
	return false, ""
}

// TestInstallUnderPodSecurity installs the chart twice with the Helm SDK:
// everything into a namespace that enforces "restricted", where every
// component but the two node-level ones is admitted, the zombie reaper being
// refused for hostPID and CAP_KILL and cert-expiry for its read-only
// hostPath and UID 0; then those two into a namespace that enforces
// "privileged", where they are admitted.
func TestInstallUnderPodSecurity(t *testing.T) {
	c := kubetest.Shared(t)

	restricted := install(t, c, "restricted", "janitor-restricted", "restricted", map[string]any{
		"bidPrice":      map[string]any{"enabled": true},
		"networkPolicy": map[string]any{"enabled": true},
	})
	job := runCronJobNow(t, c, "janitor-restricted", "restricted-akash-janitor-cert-expiry")
	ok, why := admitted(t, c, "janitor-restricted", "job-name="+job, job)
	assert.False(t, ok, "cert-expiry reads the node's files: not under restricted")
	assert.Contains(t, why, `volume "host-0" uses restricted volume type "hostPath"`)
	assert.Contains(t, why, "runAsUser=0")
	assert.NotContains(t, why, "capabilities", "it adds no capability")

	for _, cronJob := range []string{"force-replicasets", "provider-doctor", "kill-lease-by-image", "dangling-deployments", "close-stale-bids"} {
		job := runCronJobNow(t, c, "janitor-restricted", "restricted-akash-janitor-"+cronJob)
		ok, why := admitted(t, c, "janitor-restricted", "job-name="+job, job)
		assert.True(t, ok, "%s is admitted under restricted: %s", cronJob, why)
	}

	require.Eventually(t, func() bool {
		pods, err := c.Kube.CoreV1().Pods("janitor-restricted").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=bid-price"})
		return err == nil && len(pods.Items) == 2
	}, 45*time.Second, 200*time.Millisecond, "bid-price's two replicas are admitted under restricted")
	assertNetworkPolicies(t, c, "janitor-restricted")

	ok, why = admitted(t, c, "janitor-restricted", "app.kubernetes.io/component=zombie-reaper", "restricted-akash-janitor-zombie-reaper")
	assert.False(t, ok, "the zombie reaper cannot run under restricted")
	assert.Contains(t, why, `violates PodSecurity "restricted:latest"`)
	assert.Contains(t, why, "host namespaces (hostPID=true)")
	assert.Contains(t, why, `unrestricted capabilities (container "zombie-reaper" must not include "KILL"`)
	assert.NotContains(t, why, "privileged (container", "it never asks for privileged: true")

	install(t, c, "node", "janitor-privileged", "privileged", map[string]any{
		"forceReplicasets":    map[string]any{"enabled": false},
		"providerDoctor":      map[string]any{"enabled": false},
		"killLeaseByImage":    map[string]any{"enabled": false},
		"danglingDeployments": map[string]any{"enabled": false},
		"closeStaleBids":      map[string]any{"enabled": false},
	})
	ok, why = admitted(t, c, "janitor-privileged", "app.kubernetes.io/component=zombie-reaper", "node-akash-janitor-zombie-reaper")
	assert.True(t, ok, "the zombie reaper is admitted under privileged: %s", why)
	job = runCronJobNow(t, c, "janitor-privileged", "node-akash-janitor-cert-expiry")
	ok, why = admitted(t, c, "janitor-privileged", "job-name="+job, job)
	assert.True(t, ok, "cert-expiry is admitted under privileged: %s", why)

	cronJobs, err := c.Kube.BatchV1().CronJobs("janitor-privileged").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, cronJobs.Items, 1, "a disabled component installs nothing")
	assert.Equal(t, "node-akash-janitor-cert-expiry", cronJobs.Items[0].Name)

	// The cli closer's pods (an init container copying the janitor into
	// the provider's image) stay within restricted too; the first release,
	// which ran the chain jobs, is gone first.
	uninstall(t, restricted, "restricted")
	install(t, c, "cli", "janitor-cli", "restricted", map[string]any{
		"provider":            map[string]any{"closer": "cli", "cli": map[string]any{"image": "ghcr.io/akash-network/provider:0.10.0", "rpc": "https://rpc.akashnet.net:443"}},
		"forceReplicasets":    map[string]any{"enabled": false},
		"providerDoctor":      map[string]any{"enabled": false},
		"certExpiry":          map[string]any{"enabled": false},
		"zombieReaper":        map[string]any{"enabled": false},
		"danglingDeployments": map[string]any{"enabled": true},
	})
	for _, cronJob := range []string{"kill-lease-by-image", "dangling-deployments"} {
		job := runCronJobNow(t, c, "janitor-cli", "cli-akash-janitor-"+cronJob)
		ok, why := admitted(t, c, "janitor-cli", "job-name="+job, job)
		assert.True(t, ok, "%s with the cli closer is admitted under restricted: %s", cronJob, why)
	}
}

// TestInstallWithAdmissionPolicy installs the chart with a denylist, as
// helm install does: Helm installs the ImageDenylist type from crds/ before
// the policy that names it, an uninstall leaves the type (one per cluster),
// and the next install finds it there.
func TestInstallWithAdmissionPolicy(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	require.NoError(t, charttest.RemoveCRD(ctx, c.Config, admissionparams.CRDName))
	values := map[string]any{"killLeaseByImage": map[string]any{"denylist": []any{"packetstream/psclient"}}}
	policies := c.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	crds, err := apiextensionsclient.NewForConfig(c.Config)
	require.NoError(t, err)

	first := install(t, c, "deny-a", "janitor-deny-a", "restricted", values)
	_, err = crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, admissionparams.CRDName, metav1.GetOptions{})
	require.NoError(t, err, "helm installed the type from crds/")
	policy, err := policies.Get(ctx, "deny-a-akash-janitor-denied-images", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Kind, policy.Spec.ParamKind.Kind)
	binding, err := c.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, "deny-a-akash-janitor-denied-images", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "janitor-deny-a", binding.Spec.ParamRef.Namespace)
	// The hook that writes the lists ran after the install (the simulated
	// nodes complete a Job's pod; the job's own run is tested in its package).
	rel, err := action.NewGet(first).Run("deny-a")
	require.NoError(t, err)
	phases := map[string]string{}
	for _, h := range rel.Hooks {
		phases[h.Kind+"/"+h.Name] = h.LastRun.Phase.String()
	}
	assert.Equal(t, map[string]string{"Job/deny-a-akash-janitor-kill-lease-by-image-lists": "Succeeded"}, phases)

	_, err = action.NewUninstall(first).Run("deny-a")
	require.NoError(t, err)
	_, err = policies.Get(ctx, "deny-a-akash-janitor-denied-images", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "uninstalled: %v", err)
	_, err = crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, admissionparams.CRDName, metav1.GetOptions{})
	assert.NoError(t, err, "the type stays for the next install")

	install(t, c, "deny-b", "janitor-deny-b", "restricted", values)
	_, err = policies.Get(ctx, "deny-b-akash-janitor-denied-images", metav1.GetOptions{})
	require.NoError(t, err, "the next release installs with the type already there")
}

// assertNetworkPolicies checks what the API server accepted of
// networkPolicy.enabled: a deny-all policy over every pod of the release
// and one allowing bid-price's port, each selecting the running pods it is
// meant for (what the network plugin will enforce; kwok runs none, so the
// ingress rules themselves are evaluated in networkpolicy_test.go).
func assertNetworkPolicies(t *testing.T, c *kubetest.Cluster, namespace string) {
	t.Helper()
	ctx := context.Background()
	policies, err := c.Kube.NetworkingV1().NetworkPolicies(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	pods, err := c.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	selected := map[string][]string{}
	for _, p := range policies.Items {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		require.NoError(t, err, p.Name)
		for _, pod := range pods.Items {
			if sel.Matches(labels.Set(pod.Labels)) {
				selected[p.Name] = append(selected[p.Name], pod.Labels["app.kubernetes.io/component"])
			}
		}
	}
	require.Len(t, policies.Items, 2, "the deny-all policy and bid-price's")
	all := selected["restricted-akash-janitor-network-policy"]
	assert.Len(t, all, len(pods.Items), "the deny-all policy selects every pod of the release")
	assert.Equal(t, []string{"bid-price", "bid-price"}, selected["restricted-akash-janitor-bid-price"], "bid-price's policy selects its two replicas and nothing else")
}
