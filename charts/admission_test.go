package charts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/imagematch/imagematchtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

const (
	policyName = "akash-janitor-denied-images"
	paramsName = "akash-janitor-denied-images-params"
	// admissionWait bounds how long a policy or its parameters take to
	// reach admission: the API server maps a new custom resource type to
	// its REST resource within 30 seconds, and watches the rest at once.
	admissionWait = 60 * time.Second
)

func TestAdmissionPolicyRender(t *testing.T) {
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	assert.NotContains(t, objs, "ValidatingAdmissionPolicy/"+policyName, "no denylist: no policy")

	deny := map[string]any{"denylist": []any{"packetstream/psclient"}}
	objs, _, err = render(t, map[string]any{"killLeaseByImage": deny})
	require.NoError(t, err)
	policy := typed[admissionv1.ValidatingAdmissionPolicy](t, objs["ValidatingAdmissionPolicy/"+policyName])
	assert.Equal(t, admissionv1.Ignore, *policy.Spec.FailurePolicy, "by default a policy that cannot decide admits; the job still closes")
	assert.Equal(t, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "akash.network/lease.id.dseq", Operator: metav1.LabelSelectorOpExists}}},
		policy.Spec.MatchConstraints.NamespaceSelector, "tenant namespaces only")
	assert.Contains(t, policy.Spec.Validations[0].MessageExpression, imagematch.AdmissionRefusal,
		"the refusal says what kill-lease-by-image looks for in a ReplicaSet's failure")
	binding := typed[admissionv1.ValidatingAdmissionPolicyBinding](t, objs["ValidatingAdmissionPolicyBinding/"+policyName])
	assert.Equal(t, []admissionv1.ValidationAction{admissionv1.Warn, admissionv1.Audit}, binding.Spec.ValidationActions, "the job in dry-run: warn and audit")
	assert.Equal(t, paramsName, binding.Spec.ParamRef.Name)
	assert.Equal(t, "akash-services", binding.Spec.ParamRef.Namespace)
	assert.Equal(t, admissionv1.ParamKind{APIVersion: admissionparams.APIVersion, Kind: admissionparams.Kind}, *policy.Spec.ParamKind,
		"a custom resource: the API server stops watching a ConfigMap paramKind for good once it is unbound")
	assert.NotContains(t, objs, "CustomResourceDefinition/"+admissionparams.CRDName, "in crds/, not in the templates: one per cluster, never deleted by an uninstall")
	crd, err := charttest.CRD(admissionparams.CRDName)
	require.NoError(t, err)
	assert.Equal(t, admissionparams.Group, crd.Spec.Group)
	assert.Equal(t, admissionparams.Kind, crd.Spec.Names.Kind)
	assert.Equal(t, admissionparams.Version, crd.Spec.Versions[0].Name)
	assert.Equal(t, apiextensionsv1.NamespaceScoped, crd.Spec.Scope)
	assert.Equal(t, admissionparams.Resource, crd.Spec.Names.Plural)
	assert.NotContains(t, objs, admissionparams.Kind+"/"+paramsName, "the job creates its parameters; an upgrade keeps them")
	cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-kill-lease-by-image"])
	assert.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--admission-params=akash-services/"+paramsName)
	// The install hook: the lists written right after helm install and
	// upgrade, by the job's own ServiceAccount, and nothing else done.
	hook := typed[batchv1.Job](t, objs["Job/akash-janitor-kill-lease-by-image-lists"])
	assert.Equal(t, "post-install,post-upgrade", hook.Annotations["helm.sh/hook"])
	assert.Equal(t, "before-hook-creation,hook-succeeded", hook.Annotations["helm.sh/hook-delete-policy"])
	hookPod := hook.Spec.Template.Spec
	assert.Equal(t, "akash-janitor-kill-lease-by-image", hookPod.ServiceAccountName)
	assert.Subset(t, hookPod.Containers[0].Args, []string{"--admission-params=akash-services/" + paramsName, "--admission-params-only", "--deny-file=/lists/denylist", "--allow-file=/lists/allowlist"})
	assert.NotContains(t, fmt.Sprint(hookPod.Containers[0].Args), "--chain", "no chain: it closes nothing")
	assert.True(t, *hookPod.SecurityContext.RunAsNonRoot)
	assert.True(t, *hookPod.Containers[0].SecurityContext.ReadOnlyRootFilesystem)
	assert.Equal(t, []corev1.Capability{"ALL"}, hookPod.Containers[0].SecurityContext.Capabilities.Drop)
	objs, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": deny["denylist"], "admissionPolicy": map[string]any{"writeOnInstall": false}}})
	require.NoError(t, err)
	assert.NotContains(t, objs, "Job/akash-janitor-kill-lease-by-image-lists", "writeOnInstall=false: the CronJob's next run writes them")
	assert.Contains(t, objs, "ValidatingAdmissionPolicy/"+policyName)

	_, notes, err := render(t, map[string]any{"killLeaseByImage": deny})
	require.NoError(t, err)
	assert.Contains(t, notes, `Admission policy: akash-janitor-denied-images, validationActions ["Warn","Audit"], failurePolicy Ignore`)
	role := objs["Role/akash-janitor-kill-lease-by-image-admission-params"]
	require.NotNil(t, role, "the job may update the parameters")
	clusterRole := grants(typed[rbacv1.ClusterRole](t, objs["ClusterRole/akash-janitor-kill-lease-by-image"]))
	assert.True(t, clusterRole["apps/replicasets:list"] && clusterRole["/events:list"], "a denied lease's ReplicaSets and StatefulSet events, read: %v", clusterRole)
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{admissionparams.Group}, Resources: []string{admissionparams.Resource}, ResourceNames: []string{paramsName}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{admissionparams.Group}, Resources: []string{admissionparams.Resource}, Verbs: []string{"create"}},
	}, typed[rbacv1.Role](t, role).Rules, "get and update on that one object; create, which RBAC cannot narrow to a name")

	for _, tc := range []struct {
		values map[string]any
		want   []admissionv1.ValidationAction
	}{
		{map[string]any{"dryRun": false}, []admissionv1.ValidationAction{admissionv1.Deny}},
		{map[string]any{"dryRun": true, "admissionPolicy": map[string]any{"validationActions": []any{"Deny"}}}, []admissionv1.ValidationAction{admissionv1.Deny}},
		{map[string]any{"dryRun": false, "admissionPolicy": map[string]any{"validationActions": []any{"Audit"}, "failurePolicy": "Fail"}}, []admissionv1.ValidationAction{admissionv1.Audit}},
	} {
		v := map[string]any{"denylist": deny["denylist"]}
		for k, x := range tc.values {
			v[k] = x
		}
		objs, _, err := render(t, map[string]any{"killLeaseByImage": v})
		require.NoError(t, err)
		binding := typed[admissionv1.ValidatingAdmissionPolicyBinding](t, objs["ValidatingAdmissionPolicyBinding/"+policyName])
		assert.Equal(t, tc.want, binding.Spec.ValidationActions, "%v", tc.values)
	}
	objs, _, err = render(t, map[string]any{"global": map[string]any{"dryRun": true}, "killLeaseByImage": map[string]any{"denylist": deny["denylist"], "dryRun": nil}})
	require.NoError(t, err)
	assert.Equal(t, []admissionv1.ValidationAction{admissionv1.Warn, admissionv1.Audit},
		typed[admissionv1.ValidatingAdmissionPolicyBinding](t, objs["ValidatingAdmissionPolicyBinding/"+policyName]).Spec.ValidationActions, "global dry-run")

	objs, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": deny["denylist"], "admissionPolicy": map[string]any{"enabled": false}}})
	require.NoError(t, err)
	assert.NotContains(t, objs, "ValidatingAdmissionPolicy/"+policyName, "turned off")
	assert.NotContains(t, objs, "Job/akash-janitor-kill-lease-by-image-lists")
	clusterRole = grants(typed[rbacv1.ClusterRole](t, objs["ClusterRole/akash-janitor-kill-lease-by-image"]))
	assert.False(t, clusterRole["apps/replicasets:list"] || clusterRole["/events:list"], "no policy: no refusals to read")
	assert.NotContains(t, objs["CronJob/akash-janitor-kill-lease-by-image"].Object["spec"].(map[string]any)["jobTemplate"], "--admission-params")
	objs, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"admissionPolicy": map[string]any{"enabled": true}}})
	require.NoError(t, err)
	assert.Contains(t, objs, "ValidatingAdmissionPolicy/"+policyName, "turned on before the denylist is set")

	// Kubernetes before 1.30 has no ValidatingAdmissionPolicy v1: left out
	// when not asked for, refused with the reason when asked for.
	objs, _, err = charttest.RenderFor("v1.29.8", map[string]any{"killLeaseByImage": deny})
	require.NoError(t, err)
	assert.NotContains(t, objs, "ValidatingAdmissionPolicy/"+policyName)
	assert.Contains(t, objs, "CronJob/akash-janitor-kill-lease-by-image", "the job runs there as before")
	assert.NotContains(t, fmt.Sprint(objs["CronJob/akash-janitor-kill-lease-by-image"].Object), "--admission-params")
	_, _, err = charttest.RenderFor("v1.29.8", map[string]any{"killLeaseByImage": map[string]any{"admissionPolicy": map[string]any{"enabled": true}}})
	assert.ErrorContains(t, err, "killLeaseByImage.admissionPolicy.enabled=true needs Kubernetes 1.30 or later")
	// A value set to null on the command line (Helm drops it) falls back
	// to the default, never to the API server's Fail.
	objs, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": deny["denylist"], "admissionPolicy": map[string]any{"failurePolicy": nil}}})
	require.NoError(t, err)
	assert.Equal(t, admissionv1.Ignore, *typed[admissionv1.ValidatingAdmissionPolicy](t, objs["ValidatingAdmissionPolicy/"+policyName]).Spec.FailurePolicy)
	_, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": deny["denylist"], "admissionPolicy": nil}})
	require.NoError(t, err)

	for _, bad := range []map[string]any{
		{"validationActions": []any{"Deny", "Warn"}},
		{"validationActions": []any{}},
		{"validationActions": []any{"Refuse"}},
		{"failurePolicy": "Open"},
	} {
		_, _, err := render(t, map[string]any{"killLeaseByImage": map[string]any{"denylist": deny["denylist"], "admissionPolicy": bad}})
		assert.ErrorContains(t, err, "/killLeaseByImage/admissionPolicy", "%v", bad)
	}
}

// admission applies the chart's policy to the cluster, narrowed to
// namespaces labelled with the test's own label as well (other tests of
// the package create tenant pods), with the given validationActions, and
// returns a function that writes its parameters as the job does.
func admission(t *testing.T, c *kubetest.Cluster, label string, values map[string]any) func(imagematch.Lists) {
	t.Helper()
	write, _ := admissionPolicy(t, c, label, values)
	return write
}

// admissionPolicy is admission, returning the applied policy too.
func admissionPolicy(t *testing.T, c *kubetest.Cluster, label string, values map[string]any) (func(imagematch.Lists), *charttest.AdmissionPolicy) {
	t.Helper()
	ctx := context.Background()
	p, err := charttest.RenderAdmissionPolicy(values)
	require.NoError(t, err)
	policy, binding := &p.Policy, &p.Binding
	policy.Name += "-" + label
	binding.Name, binding.Spec.PolicyName = policy.Name, policy.Name
	binding.Spec.ParamRef.Name += "-" + label
	policy.Spec.MatchConstraints.NamespaceSelector.MatchLabels = map[string]string{"janitor.test/admission": label}
	remove, err := p.Apply(ctx, c.Config)
	t.Cleanup(remove)
	require.NoError(t, err)
	return func(l imagematch.Lists) {
		require.NoError(t, p.WriteParams(ctx, c.Dynamic(), l.AdmissionParams()))
	}, p
}

// testNamespace creates a namespace with the test's label; tenant ones
// carry a lease's dseq too.
func testNamespace(t *testing.T, c *kubetest.Cluster, name, label string, tenant bool) {
	t.Helper()
	labels := map[string]string{"janitor.test/admission": label}
	if tenant {
		labels["akash.network/lease.id.dseq"] = "4242"
	}
	_, err := c.Kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func pod(namespace, name string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	for i, image := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	return p
}

// tryPod is charttest.TryPod for a test: "" when admitted, else why not.
func tryPod(t *testing.T, kube kubernetes.Interface, p *corev1.Pod) string {
	t.Helper()
	refusal, err := charttest.TryPod(context.Background(), kube, p)
	require.NoError(t, err)
	return refusal
}

// waitRefused waits until the policy, as its parameters now stand, refuses
// the pod.
func waitRefused(t *testing.T, kube kubernetes.Interface, p *corev1.Pod, want string) {
	t.Helper()
	require.NoError(t, charttest.WaitRefused(context.Background(), kube, p, want, admissionWait))
}

// TestAdmissionPolicyDecidesAsTheJob is the differential test: every image
// reference of the table (aliases, mirrors, tags, digests, near misses,
// allowlisted, invalid) goes through lib/imagematch, the job's matcher, and
// through the real API server's admission with the chart's policy and the
// parameters the job writes. The decisions must be the same: refused,
// naming the deny entry, exactly when the job would close the lease.
func TestAdmissionPolicyDecidesAsTheJob(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	lists, err := imagematch.ParseLists(imagematchtest.Deny, imagematchtest.Allow)
	require.NoError(t, err)
	var deny, allow []any
	for _, e := range imagematchtest.Deny {
		deny = append(deny, e)
	}
	for _, e := range imagematchtest.Allow {
		allow = append(allow, e)
	}
	writeParams := admission(t, c, "differential", map[string]any{"denylist": deny, "allowlist": allow, "admissionPolicy": map[string]any{"validationActions": []any{"Deny"}}})
	const ns, other = "admission-tenant", "admission-provider"
	testNamespace(t, c, ns, "differential", true)
	testNamespace(t, c, other, "differential", false)

	// Before the job's first run the parameters are empty: every pod is
	// admitted. One is started, running a denied image.
	started := pod(ns, "started-before", "packetstream/psclient")
	_, err = c.Kube.CoreV1().Pods(ns).Create(ctx, started, metav1.CreateOptions{})
	require.NoError(t, err)
	writeParams(lists)
	waitRefused(t, c.Kube, pod(ns, "probe", "packetstream/psclient"), "packetstream/psclient")

	judged := 0
	for i, tc := range imagematchtest.Cases {
		if tc.ImageID {
			continue // what a runtime reports, not what a pod names
		}
		judged++
		// The job's decision, from lib/imagematch.
		want := ""
		if img, err := imagematch.ParseImage(tc.Ref); err == nil {
			if e, denied := lists.Denied(img); denied {
				want = e.Text
			}
		}
		require.Equal(t, tc.Denied, want, "the table and lib/imagematch disagree on %s", tc.Ref)

		got := tryPod(t, c.Kube, pod(ns, fmt.Sprintf("case-%d", i), tc.Ref))
		if want == "" {
			assert.Empty(t, got, "%s (%s): the job would leave it, the policy refused it", tc.Ref, tc.Why)
			continue
		}
		assert.Contains(t, got, fmt.Sprintf(`image "%s" is denied by the kill-lease-by-image denylist entry "%s"`, tc.Ref, want),
			"%s (%s): the job would close it for %q", tc.Ref, tc.Why, want)
		// Wherever it stands: an init container, one of several containers.
		hidden := pod(ns, fmt.Sprintf("init-%d", i), "nginx:1.27")
		hidden.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: tc.Ref}}
		assert.Contains(t, tryPod(t, c.Kube, hidden), `container setup: image "`+tc.Ref+`"`)
		// Never in the provider's own namespaces.
		assert.Empty(t, tryPod(t, c.Kube, pod(other, fmt.Sprintf("case-%d", i), tc.Ref)), "%s refused outside a tenant namespace", tc.Ref)
	}
	require.GreaterOrEqual(t, judged, 40, "the whole table")

	// Beyond the table: every registry spelling, path and suffix combined,
	// each judged by lib/imagematch and by the API server.
	hosts := []string{"", "docker.io/", "Docker.IO/", "index.docker.io/", "registry-1.docker.io:443/", "localhost/", "localhost:5000/",
		"LOCALHOST/", "quay.io/", "Quay.IO:8443/", "[::1]:5000/", "my_reg.io/", "Ns/", "a-b.c/"}
	paths := []string{"xmrig", "library/xmrig", "traffmonetizer/cli", "hub/honeygain/honeygain", "someone/t-rex", "evil/miner", "bad/pinned", "PSclient", "x__y/z"}
	suffixes := []string{"", ":latest", ":6.21", ":audited", "@" + imagematchtest.DigestDenied, ":v1@" + imagematchtest.DigestPinned, "@sha256:abc", ":V1.0-RC_2"}
	combined, refused := 0, 0
	for _, h := range hosts {
		for _, p := range paths {
			for _, sfx := range suffixes {
				ref := h + p + sfx
				want := ""
				if img, err := imagematch.ParseImage(ref); err == nil {
					if e, denied := lists.Denied(img); denied {
						want = e.Text
					}
				}
				got := tryPod(t, c.Kube, pod(ns, "combined", ref))
				combined++
				if want == "" {
					assert.Empty(t, got, "%s: the job would leave it, the policy refused it", ref)
					continue
				}
				refused++
				assert.Contains(t, got, fmt.Sprintf(`image "%s" is denied by the kill-lease-by-image denylist entry "%s"`, ref, want), "%s: the job would close it", ref)
			}
		}
	}
	t.Logf("%d combined references, %d of them denied, decided alike", combined, refused)
	require.Greater(t, refused, 50)

	// Two denied containers: both named, each with its entry.
	msg := tryPod(t, c.Kube, pod(ns, "two", "nginx", "honeygain/honeygain", "quay.io/traffmonetizer/cli:1.0"))
	assert.Contains(t, msg, `container c1: image "honeygain/honeygain" is denied by the kill-lease-by-image denylist entry "**/honeygain/honeygain"`)
	assert.Contains(t, msg, `container c2: image "quay.io/traffmonetizer/cli:1.0" is denied by the kill-lease-by-image denylist entry "*/traffmonetizer/cli"`)

	// An update is judged on what it adds: the pod started before may
	// still be labelled (or have a finalizer removed)...
	require.Eventually(t, func() bool {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, started.Name, metav1.GetOptions{})
		require.NoError(t, err)
		p.Labels = map[string]string{"seen": "yes"}
		_, err = c.Kube.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		return !apierrors.IsConflict(err) && assert.NoError(t, err, "an update that adds no image")
	}, 10*time.Second, 100*time.Millisecond)
	// ...but a debug container with a denied image is refused, an allowed one admitted.
	ephemeral := func(name, image string) error {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, started.Name, metav1.GetOptions{})
		require.NoError(t, err)
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: image, TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}})
		_, err = c.Kube.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, p.Name, p, metav1.UpdateOptions{})
		return err
	}
	err = ephemeral("debug", "ghcr.io/miner/xmrig:6.21")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `container debug: image "ghcr.io/miner/xmrig:6.21" is denied by the kill-lease-by-image denylist entry "ghcr.io/miner/xmrig:6.21"`)
	assert.NoError(t, ephemeral("debug", "busybox:1.36"))

	// A list the operator changes: the parameters the job writes next
	// decide at once, and an entry taken off the denylist is admitted again.
	fewer, err := imagematch.ParseLists(imagematchtest.Deny[1:], nil)
	require.NoError(t, err)
	writeParams(fewer)
	waitRefused(t, c.Kube, pod(ns, "probe", "traffmonetizer/cli:audited"), `entry "*/traffmonetizer/cli"`)
	assert.Empty(t, tryPod(t, c.Kube, pod(ns, "probe", "packetstream/psclient")), "taken off the denylist")
}

// With validationActions Warn and Audit (the default while the job is in
// dry-run) a denied pod starts, and the client that created it is warned
// with the same message.
func TestAdmissionPolicyWarnsInDryRun(t *testing.T) {
	c := kubetest.Shared(t)
	writeParams := admission(t, c, "warn", map[string]any{"denylist": []any{"packetstream/psclient"}, "dryRun": true})
	const ns = "admission-warn"
	testNamespace(t, c, ns, "warn", true)
	lists, err := imagematch.ParseLists([]string{"packetstream/psclient"}, nil)
	require.NoError(t, err)
	writeParams(lists)

	w := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		require.Empty(t, tryPod(t, kube, pod(ns, "warned", "docker.io/packetstream/psclient:2")), "Warn and Audit refuse nothing")
		return w.has(`image "docker.io/packetstream/psclient:2" is denied by the kill-lease-by-image denylist entry "packetstream/psclient"`)
	}, admissionWait, 100*time.Millisecond, "no warning: %v", w.all())
}

// Unbound and bound again (helm uninstall and install, or enabled off and
// on), the policy decides by the lists written in between. The API server
// stops watching a policy's parameters once no binding names their kind;
// for a ConfigMap paramKind that stop is for good (kubernetes/kubernetes
// #130887), and the policy would go on with the old lists, or none, until
// the API server restarts. The chart's ImageDenylist is watched anew.
func TestAdmissionPolicyBoundAgainReadsNewLists(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	writeParams, p := admissionPolicy(t, c, "rebound", map[string]any{"denylist": []any{"x"}, "admissionPolicy": map[string]any{"validationActions": []any{"Deny"}}})
	const ns = "admission-rebound"
	testNamespace(t, c, ns, "rebound", true)
	first, err := imagematch.ParseLists([]string{"packetstream/psclient"}, nil)
	require.NoError(t, err)
	writeParams(first)
	waitRefused(t, c.Kube, pod(ns, "probe", "packetstream/psclient"), `entry "packetstream/psclient"`)

	// Unbound, as long as admission takes to see it: the API server has
	// then no binding of that paramKind and stops watching it.
	bindings := c.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	require.NoError(t, bindings.Delete(ctx, p.Binding.Name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return tryPod(t, c.Kube, pod(ns, "probe", "packetstream/psclient")) == "" },
		admissionWait, 100*time.Millisecond, "unbound, the policy still refuses")

	// The lists change while it is unbound, then it is bound again.
	second, err := imagematch.ParseLists([]string{"*/traffmonetizer/cli"}, nil)
	require.NoError(t, err)
	writeParams(second)
	require.NoError(t, p.Bind(ctx, c.Kube))
	waitRefused(t, c.Kube, pod(ns, "probe", "traffmonetizer/cli:1.0"), `entry "*/traffmonetizer/cli"`)
	assert.Empty(t, tryPod(t, c.Kube, pod(ns, "probe", "packetstream/psclient")), "taken off the denylist while unbound")
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) has(s string) bool {
	for _, m := range w.all() {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// The API server's CEL cost limit, as lib/imagematch estimates it: a pod
// the estimate puts past it cannot be judged, and failurePolicy Ignore
// admits it (the job still closes its lease); one well below it is judged.
func TestAdmissionPolicyCostLimit(t *testing.T) {
	c := kubetest.Shared(t)
	entries := make([]string, 1000)
	for i := range entries {
		entries[i] = fmt.Sprintf("registry.example.com/team-%d/miner", i)
	}
	lists, err := imagematch.ParseLists(entries, nil)
	require.NoError(t, err)
	writeParams := admission(t, c, "cost", map[string]any{"denylist": []any{"x"}, "admissionPolicy": map[string]any{"validationActions": []any{"Deny"}}})
	const ns = "admission-cost"
	testNamespace(t, c, ns, "cost", true)
	writeParams(lists)

	denied := "registry.example.com/team-999/miner:" + strings.Repeat("v", 128-len("registry.example.com/team-999/miner:"))
	require.Len(t, denied, 128)
	waitRefused(t, c.Kube, pod(ns, "one", denied), `entry "registry.example.com/team-999/miner"`)
	assert.Less(t, lists.AdmissionCost(1, len(denied)), imagematch.AdmissionCostLimit)

	images := make([]string, 20)
	for i := range images {
		images[i] = denied
	}
	assert.Greater(t, lists.AdmissionCost(len(images), len(denied)), imagematch.AdmissionCostLimit)
	assert.Empty(t, tryPod(t, c.Kube, pod(ns, "twenty", images...)), "past the cost limit the policy cannot decide: Ignore admits")

	// The same pod under failurePolicy Fail: refused, for the cost.
	writeFail := admission(t, c, "cost-fail", map[string]any{"denylist": []any{"x"}, "admissionPolicy": map[string]any{"validationActions": []any{"Deny"}, "failurePolicy": "Fail"}})
	const failNS = "admission-cost-fail"
	testNamespace(t, c, failNS, "cost-fail", true)
	writeFail(lists)
	waitRefused(t, c.Kube, pod(failNS, "one", denied), `entry "registry.example.com/team-999/miner"`)
	assert.Contains(t, tryPod(t, c.Kube, pod(failNS, "twenty", images...)), "cost")
}
