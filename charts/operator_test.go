package charts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// allOnValues are the values of charts/akash-janitor/ci/all-on-values.yaml:
// every component and every option that adds objects.
func allOnValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartPath, "ci", "all-on-values.yaml"))
	require.NoError(t, err)
	v := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &v))
	return v
}

func cronJobPod(t *testing.T, objs map[string]*unstructured.Unstructured, component string) (*batchv1.CronJob, corev1.PodSpec) {
	t.Helper()
	cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-"+component])
	return cj, cj.Spec.JobTemplate.Spec.Template.Spec
}

// Annotations on the workload objects, and ServiceAccounts named, made by
// someone else or annotated, as an operator's platform asks.
func TestWorkloadAnnotationsAndServiceAccounts(t *testing.T) {
	objs, _, err := render(t, map[string]any{
		"forceReplicasets": map[string]any{"annotations": map[string]any{"team": "ops"},
			"serviceAccount": map[string]any{"create": false, "name": "ops-janitor"}},
		"providerDoctor": map[string]any{"serviceAccount": map[string]any{"name": "doctor",
			"annotations": map[string]any{"iam.gke.io/gcp-service-account": "doctor@p.iam"}}},
		"zombieReaper": map[string]any{"annotations": map[string]any{"team": "ops"}},
		"bidPrice":     map[string]any{"enabled": true, "annotations": map[string]any{"team": "pricing"}},
	})
	require.NoError(t, err)

	cj, pod := cronJobPod(t, objs, "force-replicasets")
	assert.Equal(t, "ops", cj.Annotations["team"])
	assert.Equal(t, "ops-janitor", pod.ServiceAccountName)
	assert.NotContains(t, objs, "ServiceAccount/ops-janitor", "create=false: the operator's own")
	assert.NotContains(t, objs, "ServiceAccount/akash-janitor-force-replicasets")
	crb := typed[rbacv1.ClusterRoleBinding](t, objs["ClusterRoleBinding/akash-janitor-force-replicasets"])
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ops-janitor", Namespace: "akash-services"}}, crb.Subjects)
	pause := typed[rbacv1.RoleBinding](t, objs["RoleBinding/akash-janitor-force-replicasets-pause"])
	assert.Equal(t, "ops-janitor", pause.Subjects[0].Name, "every binding names the ServiceAccount the pods run as")

	_, pod = cronJobPod(t, objs, "provider-doctor")
	assert.Equal(t, "doctor", pod.ServiceAccountName)
	sa := typed[corev1.ServiceAccount](t, objs["ServiceAccount/doctor"])
	assert.Equal(t, "doctor@p.iam", sa.Annotations["iam.gke.io/gcp-service-account"])

	ds := typed[appsv1.DaemonSet](t, objs["DaemonSet/akash-janitor-zombie-reaper"])
	assert.Equal(t, "ops", ds.Annotations["team"])
	assert.Equal(t, "container-security-context-user-group-id", ds.Annotations["kube-score/ignore"], "the chart's exemptions stay beside the operator's")
	dep := typed[appsv1.Deployment](t, objs["Deployment/akash-janitor-bid-price"])
	assert.Equal(t, "pricing", dep.Annotations["team"])

	_, _, err = render(t, map[string]any{"forceReplicasets": map[string]any{"serviceAccount": map[string]any{"name": "Not_A_Name"}}})
	assert.ErrorContains(t, err, "serviceAccount", "a name Kubernetes refuses is refused at install")
}

// rbac.create=false renders no Role, ClusterRole or binding, and leaves
// everything else; with it on, every binding's subject is a ServiceAccount
// some pod runs as.
func TestRBACCreate(t *testing.T) {
	rbacKinds := map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true}
	values := allOnValues(t)
	on, _, err := render(t, values)
	require.NoError(t, err)
	podSAs := map[string]bool{}
	for _, u := range on {
		if sa, found, _ := unstructured.NestedString(u.Object, "spec", "jobTemplate", "spec", "template", "spec", "serviceAccountName"); found {
			podSAs[sa] = true
		}
		if sa, found, _ := unstructured.NestedString(u.Object, "spec", "template", "spec", "serviceAccountName"); found {
			podSAs[sa] = true
		}
	}
	bindings := 0
	for key, u := range on {
		if u.GetKind() != "RoleBinding" && u.GetKind() != "ClusterRoleBinding" {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
		require.Len(t, subjects, 1, key)
		name := subjects[0].(map[string]any)["name"].(string)
		assert.True(t, podSAs[name], "%s binds %s, which no pod runs as", key, name)
		assert.Contains(t, on, "ServiceAccount/"+name, key)
		bindings++
	}
	assert.Greater(t, bindings, 15)

	values["rbac"] = map[string]any{"create": false}
	off, _, err := render(t, values)
	require.NoError(t, err)
	for key, u := range off {
		assert.False(t, rbacKinds[u.GetKind()], "%s rendered with rbac.create=false", key)
	}
	for key, u := range on {
		if !rbacKinds[u.GetKind()] {
			assert.Contains(t, off, key, "rbac.create=false drops RBAC only")
		}
	}
}

// securityContext and podSecurityContext are merged over the chart's: the
// key set wins, the rest of the hardening stays.
func TestSecurityContextOverrides(t *testing.T) {
	objs, _, err := render(t, map[string]any{
		"forceReplicasets": map[string]any{
			"podSecurityContext": map[string]any{"runAsUser": 10001, "runAsGroup": 10001},
			"securityContext":    map[string]any{"seLinuxOptions": map[string]any{"type": "spc_t"}},
		},
		"zombieReaper": map[string]any{"podSecurityContext": map[string]any{"seccompProfile": map[string]any{"type": "Localhost", "localhostProfile": "reaper.json"}}},
	})
	require.NoError(t, err)
	_, pod := cronJobPod(t, objs, "force-replicasets")
	psc := pod.SecurityContext
	assert.EqualValues(t, 10001, *psc.RunAsUser)
	assert.EqualValues(t, 10001, *psc.RunAsGroup)
	assert.True(t, *psc.RunAsNonRoot, "the defaults not overridden stay")
	assert.EqualValues(t, 65532, *psc.FSGroup)
	sc := pod.Containers[0].SecurityContext
	assert.Equal(t, "spc_t", sc.SELinuxOptions.Type)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)

	ds := typed[appsv1.DaemonSet](t, objs["DaemonSet/akash-janitor-zombie-reaper"])
	assert.Equal(t, "reaper.json", *ds.Spec.Template.Spec.SecurityContext.SeccompProfile.LocalhostProfile)
	assert.EqualValues(t, 0, *ds.Spec.Template.Spec.SecurityContext.RunAsUser, "the reaper's own defaults under the override")
	assert.Equal(t, []corev1.Capability{"KILL"}, ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add)

	// Defaults: unchanged from before the values existed.
	objs, _, err = render(t, nil)
	require.NoError(t, err)
	_, pod = cronJobPod(t, objs, "cert-expiry")
	assert.EqualValues(t, 0, *pod.SecurityContext.RunAsUser)
	assert.Equal(t, []corev1.Capability{"ALL"}, pod.Containers[0].SecurityContext.Capabilities.Drop)
	assert.Empty(t, pod.Containers[0].SecurityContext.Capabilities.Add)
}

// The two privileged components and the exec closer's Role carry the
// exemptions of kube-linter, polaris and kube-score, kube-linter's with the
// reason; no other object is exempted from anything.
func TestScannerExemptions(t *testing.T) {
	objs, _, err := render(t, allOnValues(t))
	require.NoError(t, err)
	podExec := []string{"polaris.fairwinds.com/rolePodExecAttach-exempt", "polaris.fairwinds.com/rolebindingRolePodExecAttach-exempt"}
	exempted := map[string][]string{
		"DaemonSet/akash-janitor-zombie-reaper": {"ignore-check.kube-linter.io/host-pid", "ignore-check.kube-linter.io/run-as-non-root",
			"polaris.fairwinds.com/hostPIDSet-exempt", "polaris.fairwinds.com/runAsRootAllowed-exempt", "polaris.fairwinds.com/insecureCapabilities-exempt", "kube-score/ignore"},
		"CronJob/akash-janitor-cert-expiry": {"ignore-check.kube-linter.io/run-as-non-root", "polaris.fairwinds.com/runAsRootAllowed-exempt", "kube-score/ignore"},
	}
	// Every Role granting pods/exec (the exec closer's, one per chain job)
	// and its binding.
	for key, u := range objs {
		if u.GetKind() != "Role" {
			continue
		}
		role := typed[rbacv1.Role](t, u)
		for _, r := range role.Rules {
			if slices.Contains(r.Resources, "pods/exec") {
				exempted[key] = podExec
				exempted["RoleBinding/"+role.Name] = podExec
			}
		}
	}
	assert.Contains(t, exempted, "Role/akash-janitor-kill-lease-by-image-exec")
	for key, u := range objs {
		a := u.GetAnnotations()
		want, ok := exempted[key]
		if !ok {
			for k := range a {
				assert.False(t, strings.Contains(k, "kube-linter") || strings.Contains(k, "polaris") || strings.HasPrefix(k, "kube-score"), "%s is exempted (%s)", key, k)
			}
			continue
		}
		for _, k := range want {
			require.Contains(t, a, k, key)
			switch {
			case strings.HasPrefix(k, "ignore-check.kube-linter.io/"):
				assert.Greater(t, len(a[k]), 30, "%s %s: the reason", key, k)
			case strings.HasPrefix(k, "polaris."):
				assert.Equal(t, "true", a[k], "%s %s", key, k)
			}
		}
	}
	for key := range exempted {
		assert.Contains(t, objs, key)
	}
}

// NOTES says plainly when the release made no RBAC.
func TestNotesSayRBACIsTheOperators(t *testing.T) {
	_, notes, err := render(t, map[string]any{"rbac": map[string]any{"create": false}})
	require.NoError(t, err)
	assert.Contains(t, notes, "rbac.create=false, so this release made no Role, ClusterRole or binding")
	_, notes, err = render(t, nil)
	require.NoError(t, err)
	assert.NotContains(t, notes, "rbac.create=false")
}
