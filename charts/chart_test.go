// Package charts tests the Helm chart with the Helm SDK: lint, render with a
// matrix of values, and the values schema.
package charts

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const chartPath = "akash-janitor"

// render installs the chart client-only (as `helm template` does, schema
// validation included) and returns the objects by "Kind/name".
func render(t *testing.T, values map[string]any) (map[string]*unstructured.Unstructured, string, error) {
	t.Helper()
	return charttest.Render(values)
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	require.NotNil(t, u)
	var out T
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out))
	return &out
}

// components are the chart's blocks of values and the component names
// they render.
var components = map[string]string{
	"forceReplicasets":    "force-replicasets",
	"zombieReaper":        "zombie-reaper",
	"bidPrice":            "bid-price",
	"providerDoctor":      "provider-doctor",
	"restoreCommand":      "restore-command",
	"certExpiry":          "cert-expiry",
	"closeStaleBids":      "close-stale-bids",
	"killLeaseByImage":    "kill-lease-by-image",
	"danglingDeployments": "dangling-deployments",
}

// enabledByDefault: what a fresh install runs (what needs no operator input).
var enabledByDefault = map[string]bool{"forceReplicasets": true, "zombieReaper": true, "bidPrice": false, "providerDoctor": true, "restoreCommand": false, "certExpiry": true, "killLeaseByImage": true, "danglingDeployments": true, "closeStaleBids": true}

// matrix is the values every render and lint test covers: defaults,
// everything on (with every option), everything off, each component alone.
func matrix() map[string]map[string]any {
	off := map[string]any{}
	on := map[string]any{
		"global":       map[string]any{"pushgateway": map[string]any{"url": "http://pushgateway.monitoring:9091"}},
		"zombieReaper": map[string]any{"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}},
		"bidPrice": map[string]any{"enabled": true, "gpuPriceMappings": map[string]any{"a100": "120"},
			"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}}},
	}
	m := map[string]map[string]any{"defaults": nil, "everything on": on, "everything off": off}
	for block := range components {
		off[block] = map[string]any{"enabled": false}
		alone := map[string]any{}
		for other := range components {
			alone[other] = map[string]any{"enabled": other == block}
		}
		m[block+" alone"] = alone
	}
	return m
}

func TestLint(t *testing.T) {
	for name, values := range matrix() {
		t.Run(name, func(t *testing.T) {
			linter := lint.All(chartPath, values, "akash-services", false)
			for _, m := range linter.Messages {
				assert.Less(t, m.Severity, support.ErrorSev, "%s", m)
			}
		})
	}
}

func TestDefaultsRenderForceReplicasets(t *testing.T) {
	objs, notes, err := render(t, nil)
	require.NoError(t, err)
	name := "akash-janitor-force-replicasets"
	require.Contains(t, objs, "ServiceAccount/"+name)
	require.Contains(t, objs, "ClusterRoleBinding/"+name)

	cj := typed[batchv1.CronJob](t, objs["CronJob/"+name])
	assert.Equal(t, "* * * * *", cj.Spec.Schedule)
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	assert.EqualValues(t, 0, *cj.Spec.JobTemplate.Spec.BackoffLimit)
	assert.EqualValues(t, 300, *cj.Spec.StartingDeadlineSeconds)
	assert.EqualValues(t, 600, *cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds)
	assert.Nil(t, cj.Spec.TimeZone)
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	assert.Equal(t, name, pod.ServiceAccountName)
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/akash-janitor/force-replicasets:0.1.0", c.Image)
	assert.Equal(t, []string{"--dry-run=false", "--max-actions=10", "--log-level=info", "--log-format=json", "--min-stuck=90s"}, c.Args)
	assert.Equal(t, "cronjob", strings.ToLower(cj.Kind))
	assert.Equal(t, "force-replicasets", cj.Labels["app.kubernetes.io/component"])

	// Pod Security "restricted".
	require.NotNil(t, pod.SecurityContext)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, "RuntimeDefault", string(pod.SecurityContext.SeccompProfile.Type))
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.Equal(t, "ALL", string(c.SecurityContext.Capabilities.Drop[0]))
	assert.Nil(t, c.SecurityContext.Privileged)
	assert.False(t, pod.HostPID)

	role := typed[rbacv1.ClusterRole](t, objs["ClusterRole/"+name])
	assert.Equal(t, map[string]bool{
		"/namespaces:list": true, "/pods:list": true, "apps/deployments:list": true,
		"apps/replicasets:list": true, "apps/replicasets:delete": true, "events.k8s.io/events:create": true,
	}, grants(role), "the narrowest role that works, nothing more")

	assert.Contains(t, notes, "force-replicasets   enabled")
	assert.Contains(t, notes, "kubectl -n akash-services create job --from=cronjob/"+name)
}

func TestValuesChangeTheRender(t *testing.T) {
	objs, _, err := render(t, map[string]any{
		"global": map[string]any{"dryRun": true, "image": map[string]any{"tag": "v9"}, "commonLabels": map[string]any{"team": "ops"}},
		"forceReplicasets": map[string]any{
			"schedule": "@hourly", "timeZone": "Europe/Berlin", "maxActions": 3, "minStuck": "15m",
			"args": []any{"--page-size=250"}, "nodeSelector": map[string]any{"node-role.kubernetes.io/control-plane": ""},
			"priorityClassName": "system-cluster-critical",
		},
	})
	require.NoError(t, err)
	cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-force-replicasets"])
	assert.Equal(t, "@hourly", cj.Spec.Schedule)
	assert.Equal(t, "Europe/Berlin", *cj.Spec.TimeZone)
	assert.Equal(t, "ops", cj.Labels["team"])
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	assert.Equal(t, "system-cluster-critical", pod.PriorityClassName)
	assert.Contains(t, pod.NodeSelector, "node-role.kubernetes.io/control-plane")
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/akash-janitor/force-replicasets:v9", c.Image)
	assert.Equal(t, []string{"--dry-run=true", "--max-actions=3", "--log-level=info", "--log-format=json", "--min-stuck=15m", "--page-size=250"}, c.Args)

	// A component's own dryRun wins over the global one.
	objs, _, err = render(t, map[string]any{"global": map[string]any{"dryRun": true}, "forceReplicasets": map[string]any{"dryRun": false}})
	require.NoError(t, err)
	cj = typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-force-replicasets"])
	assert.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--dry-run=false")
}

func TestMatrixRendersEachComponentWholeOrNotAtAll(t *testing.T) {
	for name, values := range matrix() {
		t.Run(name, func(t *testing.T) {
			objs, notes, err := render(t, values)
			require.NoError(t, err)
			for block, component := range components {
				enabled := enabledByDefault[block]
				if v, ok := values[block].(map[string]any); ok && v["enabled"] != nil {
					enabled = v["enabled"].(bool)
				}
				full := "akash-janitor-" + component
				assert.Equal(t, enabled, objs["ServiceAccount/"+full] != nil, "ServiceAccount %s", full)
				// close-stale-bids reads the chain only: nothing cluster-wide.
				clusterWide := enabled && component != "close-stale-bids"
				for _, kind := range []string{"ClusterRole", "ClusterRoleBinding"} {
					assert.Equal(t, clusterWide, objs[kind+"/"+full] != nil, "%s %s", kind, full)
				}
				workload := objs["CronJob/"+full]
				for _, kind := range []string{"DaemonSet", "Deployment"} {
					if workload == nil {
						workload = objs[kind+"/"+full]
					}
				}
				assert.Equal(t, enabled, workload != nil, "workload of %s", component)
				if enabled {
					assert.Contains(t, notes, component+" ")
					assert.NotContains(t, notes, component+"   disabled")
					assert.Equal(t, component, workload.GetLabels()["app.kubernetes.io/component"])
				} else {
					assert.Contains(t, notes, fmt.Sprintf("disabled (%s.enabled=false)", block))
				}
			}
			for key, u := range objs {
				assert.Equal(t, "akash-janitor", u.GetLabels()["app.kubernetes.io/part-of"], key)
				if u.GetKind() == "ClusterRole" || u.GetKind() == "ClusterRoleBinding" {
					continue
				}
				if u.GetKind() == "Role" || u.GetKind() == "RoleBinding" {
					assert.Contains(t, []string{"akash-services", "lease"}, u.GetNamespace(), key)
					continue
				}
				assert.Equal(t, "akash-services", u.GetNamespace(), key)
			}
			for _, c := range []string{"zombie-reaper", "bid-price"} {
				_, podMonitor := objs["PodMonitor/akash-janitor-"+c]
				assert.Equal(t, name == "everything on", podMonitor, c)
			}
		})
	}
}

func TestZombieReaperDaemonSet(t *testing.T) {
	objs, _, err := render(t, nil)
	require.NoError(t, err)
	name := "akash-janitor-zombie-reaper"
	ds := typed[appsv1.DaemonSet](t, objs["DaemonSet/"+name])
	pod := ds.Spec.Template.Spec
	assert.True(t, pod.HostPID)
	assert.False(t, pod.HostNetwork)
	assert.Equal(t, name, pod.ServiceAccountName)
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations, "every node, tainted or not")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "ghcr.io/akash-janitor/zombie-reaper:0.1.0", c.Image)
	assert.Equal(t, []string{"--dry-run=false", "--max-actions=20", "--log-level=info", "--log-format=json",
		"--interval=30s", "--jitter=0.2", "--min-zombie-age=1m", "--min-zombies=1",
		"--sigchld-wait=15s", "--sigterm-wait=15s", "--sigkill-wait=5s", "--shim-comm=containerd-shim*", "--metrics-addr=:9101"}, c.Args)
	assert.Equal(t, "spec.nodeName", c.Env[0].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "JANITOR_NODE_NAME", c.Env[0].Name)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)

	// CAP_KILL and nothing else; never privileged.
	sc := c.SecurityContext
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, []corev1.Capability{"KILL"}, sc.Capabilities.Add)
	assert.Nil(t, sc.Privileged)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.Equal(t, "RuntimeDefault", string(pod.SecurityContext.SeccompProfile.Type))
	assert.Empty(t, pod.Volumes, "no hostPath: hostPID shows the node's /proc")

	role := typed[rbacv1.ClusterRole](t, objs["ClusterRole/"+name])
	assert.Equal(t, map[string]bool{"/pods:list": true, "/namespaces:get": true, "events.k8s.io/events:create": true}, grants(role))

	// Options reach the flags.
	objs, _, err = render(t, map[string]any{"global": map[string]any{"pushgateway": map[string]any{"url": "http://pg:9091"}},
		"zombieReaper": map[string]any{"dryRun": true, "interval": "2m", "minZombies": 5, "shimComm": []any{"containerd-shim*", "conmon"},
			"metrics": map[string]any{"port": 9200, "podMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}}}})
	require.NoError(t, err)
	ds = typed[appsv1.DaemonSet](t, objs["DaemonSet/"+name])
	c = ds.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--dry-run=true", "--interval=2m", "--min-zombies=5", "--shim-comm=containerd-shim*,conmon", "--metrics-addr=:9200"} {
		assert.Contains(t, c.Args, want)
	}
	assert.EqualValues(t, 9200, c.Ports[0].ContainerPort)
	pm := objs["PodMonitor/"+name]
	require.NotNil(t, pm)
	assert.Equal(t, "prom", pm.GetLabels()["release"])
	cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-force-replicasets"])
	assert.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env,
		corev1.EnvVar{Name: "JANITOR_PUSHGATEWAY_URL", Value: "http://pg:9091"}, "CronJobs push their summary")
	for _, e := range c.Env {
		assert.NotEqual(t, "JANITOR_PUSHGATEWAY_URL", e.Name, "the reaper is scraped, it does not push")
	}
}

func grants(role *rbacv1.ClusterRole) map[string]bool {
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					granted[g+"/"+res+":"+v] = true
				}
			}
		}
	}
	return granted
}

func TestSchemaRejectsBadValues(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   []string // the path and what is wrong with it
	}{
		{"bad cron", map[string]any{"forceReplicasets": map[string]any{"schedule": "every five minutes"}}, []string{"/forceReplicasets/schedule", "'every five minutes' does not match pattern"}},
		{"negative budget", map[string]any{"forceReplicasets": map[string]any{"maxActions": -1}}, []string{"/forceReplicasets/maxActions", "minimum: got -1, want 0"}},
		{"budget not a number", map[string]any{"forceReplicasets": map[string]any{"maxActions": "ten"}}, []string{"/forceReplicasets/maxActions", "got string, want integer"}},
		{"unknown key", map[string]any{"forceReplicasets": map[string]any{"maxAction": 3}}, []string{"maxAction"}},
		{"unknown component", map[string]any{"forceReplicaSets": map[string]any{}}, []string{"forceReplicaSets"}},
		{"bad duration", map[string]any{"forceReplicasets": map[string]any{"minStuck": "five minutes"}}, []string{"/forceReplicasets/minStuck", "'five minutes' does not match pattern"}},
		{"bad log format", map[string]any{"global": map[string]any{"logFormat": "xml"}}, []string{"/global/logFormat", "value must be one of 'json', 'console'"}},
		{"dryRun not a bool", map[string]any{"global": map[string]any{"dryRun": "yes"}}, []string{"/global/dryRun", "got string, want boolean"}},
		{"zero interval", map[string]any{"zombieReaper": map[string]any{"interval": "0s"}}, []string{"/zombieReaper/interval", "does not match pattern"}},
		{"jitter above 1", map[string]any{"zombieReaper": map[string]any{"jitter": 1.5}}, []string{"/zombieReaper/jitter", "maximum: got 1.5, want 1"}},
		{"no zombies threshold", map[string]any{"zombieReaper": map[string]any{"minZombies": 0}}, []string{"/zombieReaper/minZombies", "minimum: got 0, want 1"}},
		{"no shim", map[string]any{"zombieReaper": map[string]any{"shimComm": []any{}}}, []string{"/zombieReaper/shimComm", "minItems: got 0, want 1"}},
		{"shim with a comma", map[string]any{"zombieReaper": map[string]any{"shimComm": []any{"a,b"}}}, []string{"/zombieReaper/shimComm/0", "does not match pattern"}},
		{"port out of range", map[string]any{"zombieReaper": map[string]any{"metrics": map[string]any{"port": 70000}}}, []string{"/zombieReaper/metrics/port", "maximum: got 70,000, want 65,535"}},
		{"reaper unknown key", map[string]any{"zombieReaper": map[string]any{"schedule": "*/5 * * * *"}}, []string{"/zombieReaper", "schedule"}},
		{"a CronJob setting from the shared definition", map[string]any{"certExpiry": map[string]any{"startingDeadlineSeconds": 5}}, []string{"/certExpiry/startingDeadlineSeconds", "minimum: got 5, want 10"}},
		{"a CronJob setting on the service", map[string]any{"bidPrice": map[string]any{"startingDeadlineSeconds": 300}}, []string{"/bidPrice", "startingDeadlineSeconds"}},
		{"a shared setting of the wrong type", map[string]any{"providerDoctor": map[string]any{"priorityClassName": 3}}, []string{"/providerDoctor/priorityClassName", "got number, want string"}},
		{"bad pushgateway", map[string]any{"global": map[string]any{"pushgateway": map[string]any{"url": "pushgateway:9091"}}}, []string{"/global/pushgateway/url", "does not match pattern"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := render(t, tt.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
}

func TestSchemaAcceptsDocumentedExamples(t *testing.T) {
	for _, schedule := range []string{"*/5 * * * *", "0 3 * * 1-5", "@daily", "15,45 * * * *", "0 0 1 jan *"} {
		_, _, err := render(t, map[string]any{"forceReplicasets": map[string]any{"schedule": schedule}})
		assert.NoError(t, err, schedule)
	}
	for _, d := range []string{"5m", "90s", "1h30m", "0"} {
		_, _, err := render(t, map[string]any{"forceReplicasets": map[string]any{"minStuck": d}})
		assert.NoError(t, err, d)
	}
}

func TestBidPriceRender(t *testing.T) {
	objs, notes, err := render(t, map[string]any{"bidPrice": map[string]any{"enabled": true,
		"targets":          map[string]any{"cpu": "2.10", "ip": 4},
		"gpuPriceMappings": map[string]any{"a100": "120", "a100.80Gi.sxm": 1000, "t4": "80.5", "rtx4090": ".5", "h100": " 75"},
		"fixes":            map[string]any{"starWildcard": true}}})
	require.NoError(t, err)
	name := "akash-janitor-bid-price"
	data := objs["ConfigMap/"+name].Object["data"].(map[string]any)
	assert.Equal(t, "2.10", data["PRICE_TARGET_CPU"])
	assert.Equal(t, "4", data["PRICE_TARGET_IP"])
	assert.Equal(t, "0.80", data["PRICE_TARGET_MEMORY"], "the script's defaults")
	assert.Equal(t, "a100=120,a100.80Gi.sxm=1000,h100= 75,rtx4090=.5,t4=80.5", data["PRICE_TARGET_GPU_MAPPINGS"], "the spellings the script's bc reads")
	assert.Equal(t, "true", data["FIX_STAR_WILDCARD"])
	assert.Equal(t, "dia,coingecko", data["AKT_PRICE_SOURCES"])
	// What the chart renders is what the pricing reads.
	targets, err := pricing.TargetsFromEnv(func(k string) (string, bool) { v, ok := data[k].(string); return v, ok })
	require.NoError(t, err)
	assert.Equal(t, []string{"a100", "a100.80Gi.sxm", "h100", "rtx4090", "t4"}, targets.GPU.Keys())
	assert.Equal(t, "1000", targets.GPU.Fallback.String())

	d := typed[appsv1.Deployment](t, objs["Deployment/"+name])
	assert.EqualValues(t, 2, *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	assert.Equal(t, []string{"serve", "--configmap=" + name, "--listen=:8080", "--audit-interval=10m", "--log-level=info", "--log-format=json"}, pod.Containers[0].Args)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.False(t, pod.HostPID)
	assert.Equal(t, "/readyz", pod.Containers[0].ReadinessProbe.HTTPGet.Path)
	require.Contains(t, objs, "PodDisruptionBudget/"+name)
	require.Contains(t, objs, "Service/"+name)
	role := typed[rbacv1.Role](t, objs["Role/"+name])
	assert.Equal(t, []string{name}, role.Rules[0].ResourceNames, "its own ConfigMap, by name")
	assert.Equal(t, map[string]bool{"/configmaps:get": true, "/configmaps:list": true, "/configmaps:watch": true}, grants(&rbacv1.ClusterRole{Rules: role.Rules}))
	assert.Equal(t, map[string]bool{"/nodes:list": true}, grants(typed[rbacv1.ClusterRole](t, objs["ClusterRole/"+name])))
	assert.Contains(t, notes, "helm -n akash-services upgrade akash-provider akash/provider --reuse-values")
	assert.Contains(t, notes, "5 GPU price mappings")

	for name, values := range map[string]map[string]any{
		"price with a comma":  {"targets": map[string]any{"cpu": "1,60"}},
		"price with a plus":   {"targets": map[string]any{"cpu": "+1.60"}},
		"a lone point":        {"gpuPriceMappings": map[string]any{"a100": "."}},
		"negative price":      {"gpuPriceMappings": map[string]any{"a100": -5}},
		"key with a comma":    {"gpuPriceMappings": map[string]any{"a100,t4": "100"}},
		"unknown AKT source":  {"aktPrice": map[string]any{"sources": []any{"binance"}}},
		"zero replicas":       {"replicas": 0},
		"budget on a service": {"maxActions": 3},
	} {
		_, _, err := render(t, map[string]any{"bidPrice": values})
		assert.Error(t, err, name)
	}
}

func TestKillLeaseByImageWaitsForInput(t *testing.T) {
	objs, notes, err := render(t, nil)
	require.NoError(t, err)
	assert.Contains(t, notes, "kill-lease-by-image WAITING FOR INPUT")
	name := "akash-janitor-kill-lease-by-image"
	cj := typed[batchv1.CronJob](t, objs["CronJob/"+name])
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	assert.Contains(t, c.Args, "--dry-run=true", "a chain job starts in dry-run")
	assert.Contains(t, c.Args, "--chain-rest=")

	objs, notes, err = render(t, map[string]any{
		"provider":         map[string]any{"address": "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", "chain": map[string]any{"rest": []any{"https://api.akashnet.net:443", "https://akash-api.polkachu.com"}}},
		"killLeaseByImage": map[string]any{"denylist": []any{"packetstream/psclient", "regex:.*xmrig.*"}, "allowlist": []any{"ghcr.io/ok/xmrig"}, "dryRun": false},
	})
	require.NoError(t, err)
	assert.Contains(t, notes, "kill-lease-by-image enabled")
	assert.Contains(t, notes, "2 denylist entries")
	data := objs["ConfigMap/"+name].Object["data"].(map[string]any)
	assert.Equal(t, "packetstream/psclient\nregex:.*xmrig.*", strings.TrimSpace(data["denylist"].(string)), "one entry a line")
	assert.Equal(t, "ghcr.io/ok/xmrig", strings.TrimSpace(data["allowlist"].(string)))
	cj = typed[batchv1.CronJob](t, objs["CronJob/"+name])
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	c = pod.Containers[0]
	for _, want := range []string{"--dry-run=false", "--chain-rest=https://api.akashnet.net:443,https://akash-api.polkachu.com",
		"--provider=akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0", "--key-file=/keys/key.txt", "--deny-file=/lists/denylist", "--authz=false"} {
		assert.Contains(t, c.Args, want)
	}
	assert.Equal(t, []string{"lists", "keys"}, volumeNames(pod))
	keys := pod.Volumes[1]
	assert.Equal(t, "akash-provider-keys", keys.Secret.SecretName)
	assert.True(t, *keys.Secret.Optional)
	assert.EqualValues(t, 0o440, *keys.Secret.DefaultMode, "the key readable by the pod's group only")
	assert.EqualValues(t, 65532, *pod.SecurityContext.FSGroup)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	role := typed[rbacv1.Role](t, objs["Role/"+name])
	assert.Equal(t, "lease", role.Namespace)
	assert.Equal(t, map[string]bool{"akash.network/manifests:list": true}, grants(&rbacv1.ClusterRole{Rules: role.Rules}))
	assert.Equal(t, map[string]bool{"events.k8s.io/events:create": true, "/pods:list": true, "apps/replicasets:list": true, "/events:list": true}, grants(typed[rbacv1.ClusterRole](t, objs["ClusterRole/"+name])),
		"the pods' statuses (what ran), the ReplicaSets and StatefulSet events of a denied lease (refused at admission?), and no Secret access: the kubelet mounts the key")

	_, _, err = render(t, map[string]any{"provider": map[string]any{"chain": map[string]any{"rest": []any{"api.akashnet.net"}}}})
	assert.ErrorContains(t, err, "/provider/chain/rest/0")
	_, _, err = render(t, map[string]any{"killLeaseByImage": map[string]any{"reason": "because"}})
	assert.ErrorContains(t, err, "/killLeaseByImage/reason")
}

func volumeNames(pod corev1.PodSpec) []string {
	var names []string
	for _, v := range pod.Volumes {
		names = append(names, v.Name)
	}
	return names
}

// The three ways to close, for both chain jobs.
func TestChainJobsCloserModes(t *testing.T) {
	const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	values := func(closer map[string]any) map[string]any {
		p := map[string]any{"address": provider, "chain": map[string]any{"rest": []any{"https://api.akashnet.net:443"}}}
		for k, v := range closer {
			p[k] = v
		}
		return map[string]any{"provider": p, "danglingDeployments": map[string]any{"enabled": true, "closeMissing": true},
			"killLeaseByImage": map[string]any{"denylist": []any{"packetstream/psclient"}}}
	}
	jobs := []string{"kill-lease-by-image", "dangling-deployments"}

	t.Run("tx", func(t *testing.T) {
		objs, notes, err := render(t, values(nil))
		require.NoError(t, err)
		assert.Contains(t, notes, "Leases are closed by signed transactions (closer=tx) with the key of Secret akash-provider-keys.")
		for _, job := range jobs {
			name := "akash-janitor-" + job
			pod := typed[batchv1.CronJob](t, objs["CronJob/"+name]).Spec.JobTemplate.Spec.Template.Spec
			c := pod.Containers[0]
			assert.Contains(t, c.Args, "--closer=tx")
			assert.Contains(t, c.Args, "--gas-adjustment=1.5")
			assert.Contains(t, c.Args, "--key-file=/keys/key.txt")
			assert.Empty(t, pod.InitContainers)
			assert.Nil(t, objs["Role/"+name+"-exec"], "no exec rights")
		}
	})

	t.Run("cli", func(t *testing.T) {
		_, _, err := render(t, values(map[string]any{"closer": "cli", "cli": map[string]any{"rpc": "https://rpc.akashnet.net:443"}}))
		assert.ErrorContains(t, err, "provider.closer=cli needs provider.cli.image")
		_, _, err = render(t, values(map[string]any{"closer": "cli", "cli": map[string]any{"image": "ghcr.io/akash-network/provider:0.10.0"}}))
		assert.ErrorContains(t, err, "/provider/cli/rpc", "the CLI needs an RPC node")

		objs, _, err := render(t, values(map[string]any{"closer": "cli", "cli": map[string]any{
			"image": "ghcr.io/akash-network/provider:0.10.0", "rpc": "https://rpc.akashnet.net:443"}}))
		require.NoError(t, err)
		for _, job := range jobs {
			name := "akash-janitor-" + job
			pod := typed[batchv1.CronJob](t, objs["CronJob/"+name]).Spec.JobTemplate.Spec.Template.Spec
			c := pod.Containers[0]
			assert.Equal(t, "ghcr.io/akash-network/provider:0.10.0", c.Image, "the job runs where the CLI and its C library are")
			assert.Equal(t, []string{"/janitor-bin/" + job}, c.Command)
			for _, want := range []string{"--closer=cli", "--cli=provider-services", "--chain-rpc=https://rpc.akashnet.net:443",
				"--cli-home=/keyring", "--key-file=/keys/key.txt", "--provider=" + provider} {
				assert.Contains(t, c.Args, want)
			}
			require.Len(t, pod.InitContainers, 1)
			ic := pod.InitContainers[0]
			assert.Equal(t, "ghcr.io/akash-janitor/"+job+":0.1.0", ic.Image)
			assert.Equal(t, []string{"--install-to=/janitor-bin"}, ic.Args)
			for _, ctr := range []corev1.Container{c, ic} {
				assert.True(t, *ctr.SecurityContext.ReadOnlyRootFilesystem, ctr.Name)
				assert.False(t, *ctr.SecurityContext.AllowPrivilegeEscalation, ctr.Name)
				assert.Equal(t, []corev1.Capability{"ALL"}, ctr.SecurityContext.Capabilities.Drop, ctr.Name)
			}
			var keyring *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "keyring" {
					keyring = &pod.Volumes[i]
				}
			}
			require.NotNil(t, keyring)
			assert.Equal(t, corev1.StorageMediumMemory, keyring.EmptyDir.Medium, "the imported key never touches a disk")
		}
	})

	t.Run("exec", func(t *testing.T) {
		objs, notes, err := render(t, values(map[string]any{"closer": "exec"}))
		require.NoError(t, err)
		assert.Contains(t, notes, "Leases are closed by running provider-services in pod akash-services/akash-provider-0 (closer=exec; the key stays there)")
		for _, job := range jobs {
			name := "akash-janitor-" + job
			pod := typed[batchv1.CronJob](t, objs["CronJob/"+name]).Spec.JobTemplate.Spec.Template.Spec
			c := pod.Containers[0]
			for _, want := range []string{"--closer=exec", "--cli=provider-services", "--provider-pod=akash-services/akash-provider-0", "--provider-container=provider"} {
				assert.Contains(t, c.Args, want)
			}
			for _, a := range c.Args {
				assert.NotContains(t, a, "--key-file", "no key outside the provider pod")
			}
			assert.NotContains(t, volumeNames(pod), "keys")
			role := typed[rbacv1.Role](t, objs["Role/"+name+"-exec"])
			assert.Equal(t, "akash-services", role.Namespace)
			require.Len(t, role.Rules, 1)
			assert.Equal(t, []string{"pods/exec"}, role.Rules[0].Resources)
			assert.Equal(t, []string{"akash-provider-0"}, role.Rules[0].ResourceNames, "that one pod")
			assert.Equal(t, []string{"create"}, role.Rules[0].Verbs)
			rb := typed[rbacv1.RoleBinding](t, objs["RoleBinding/"+name+"-exec"])
			assert.Equal(t, name, rb.Subjects[0].Name)
		}
		_, _, err = render(t, values(map[string]any{"closer": "ssh"}))
		assert.ErrorContains(t, err, "/provider/closer")
	})

	t.Run("values that cannot work are refused", func(t *testing.T) {
		_, _, err := render(t, values(map[string]any{"closer": "exec", "authz": true}))
		assert.ErrorContains(t, err, "/provider/closer", "authz is tx only")
		_, _, err = render(t, values(map[string]any{"closer": "cli", "authz": true, "cli": map[string]any{"image": "i", "rpc": "https://r"}}))
		assert.ErrorContains(t, err, "/provider/closer")
		_, _, err = render(t, map[string]any{"provider": map[string]any{"closer": "exec"}})
		assert.ErrorContains(t, err, "/provider/address", "exec needs the provider's address")
		_, _, err = render(t, values(map[string]any{"cli": map[string]any{"command": "/bin/provider-services --home /x"}}))
		assert.ErrorContains(t, err, "/provider/cli/command")
	})

	t.Run("a job that closes nothing gets no key and no exec rights", func(t *testing.T) {
		for _, closer := range []string{"tx", "exec"} {
			v := values(map[string]any{"closer": closer})
			v["danglingDeployments"] = map[string]any{"enabled": true, "closeReclaimed": false} // teardowns only
			objs, _, err := render(t, v)
			require.NoError(t, err)
			name := "akash-janitor-dangling-deployments"
			pod := typed[batchv1.CronJob](t, objs["CronJob/"+name]).Spec.JobTemplate.Spec.Template.Spec
			assert.Empty(t, pod.Volumes, closer)
			for _, a := range pod.Containers[0].Args {
				assert.NotContains(t, a, "--closer", closer)
				assert.NotContains(t, a, "--key-file", closer)
			}
			assert.Nil(t, objs["Role/"+name+"-exec"], closer)
		}
	})
}

// global.pause reaches exactly the components that change anything, each
// with the switch's namespace and a Role to read that one ConfigMap.
func TestGlobalPause(t *testing.T) {
	pausable := map[string]bool{"force-replicasets": true, "kill-lease-by-image": true, "dangling-deployments": true, "restore-command": true, "zombie-reaper": true, "close-stale-bids": true}
	for _, pause := range []bool{true, false} {
		objs, _, err := render(t, map[string]any{"global": map[string]any{"pause": pause},
			"bidPrice": map[string]any{"enabled": true}, "restoreCommand": map[string]any{"enabled": true}})
		require.NoError(t, err)
		for _, component := range components {
			name := "akash-janitor-" + component
			env := componentEnv(t, objs, component)
			_, paused := env["JANITOR_PAUSED"]
			_, ns := env["JANITOR_PAUSE_NAMESPACE"]
			assert.Equal(t, pause && pausable[component], paused, "%s JANITOR_PAUSED with global.pause=%v", component, pause)
			assert.Equal(t, pausable[component], ns, "%s reads the pause ConfigMap", component)
			role := objs["Role/"+name+"-pause"]
			require.Equal(t, pausable[component], role != nil, "%s's pause Role", component)
			if role != nil {
				rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
				assert.Equal(t, []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"},
					"resourceNames": []any{"akash-janitor-pause"}, "verbs": []any{"get"}}}, rules)
				assert.Equal(t, "akash-services", role.GetNamespace())
			}
		}
	}
}

// componentEnv is the environment of a component's container, by name.
func componentEnv(t *testing.T, objs map[string]*unstructured.Unstructured, component string) map[string]any {
	t.Helper()
	name := "akash-janitor-" + component
	var containers []any
	for _, path := range [][]string{{"CronJob", "spec", "jobTemplate", "spec", "template", "spec", "containers"}, {"DaemonSet", "spec", "template", "spec", "containers"}, {"Deployment", "spec", "template", "spec", "containers"}} {
		if u := objs[path[0]+"/"+name]; u != nil {
			containers, _, _ = unstructured.NestedSlice(u.Object, path[1:]...)
		}
	}
	require.NotEmpty(t, containers, component)
	env := map[string]any{}
	for _, c := range containers {
		if c.(map[string]any)["name"] != component {
			continue
		}
		list, _ := c.(map[string]any)["env"].([]any)
		for _, e := range list {
			env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
		}
	}
	return env
}

// global.blockers: the provider pod reaches the three jobs that rely on
// the provider, each with a Role to read that one pod in its namespace;
// the alert blocker reaches every job that changes anything.
func TestGlobalBlockers(t *testing.T) {
	pausable := map[string]bool{"force-replicasets": true, "kill-lease-by-image": true, "dangling-deployments": true, "restore-command": true, "zombie-reaper": true, "close-stale-bids": true}
	needsProvider := map[string]bool{"force-replicasets": true, "kill-lease-by-image": true, "dangling-deployments": true}
	enabled := map[string]any{"bidPrice": map[string]any{"enabled": true}, "restoreCommand": map[string]any{"enabled": true}}

	objs, _, err := render(t, enabled)
	require.NoError(t, err)
	for _, component := range components {
		env := componentEnv(t, objs, component)
		_, set := env["JANITOR_REQUIRE_READY_POD"]
		require.Equal(t, needsProvider[component], set, "%s JANITOR_REQUIRE_READY_POD", component)
		if set {
			assert.Equal(t, "akash-services/akash-provider-0", env["JANITOR_REQUIRE_READY_POD"])
		}
		assert.NotContains(t, env, "JANITOR_BLOCKING_ALERTS", "no alert blocker unless asked")
		role := objs["Role/akash-janitor-"+component+"-provider-ready"]
		require.Equal(t, needsProvider[component], role != nil, "%s's provider Role", component)
		if role != nil {
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			assert.Equal(t, []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"},
				"resourceNames": []any{"akash-provider-0"}, "verbs": []any{"get"}}}, rules)
			assert.Equal(t, "akash-services", role.GetNamespace())
		}
	}

	values := map[string]any{"global": map[string]any{"blockers": map[string]any{"providerPod": "provider/akash-provider-1",
		"prometheus": map[string]any{"url": "http://prometheus.monitoring:9090", "alerts": `severity="critical"`}}}}
	maps.Copy(values, enabled)
	objs, _, err = render(t, values)
	require.NoError(t, err)
	for _, component := range components {
		env := componentEnv(t, objs, component)
		if pausable[component] {
			assert.Equal(t, "http://prometheus.monitoring:9090", env["JANITOR_PROMETHEUS_URL"], component)
			assert.Equal(t, `severity="critical"`, env["JANITOR_BLOCKING_ALERTS"], component)
		} else {
			assert.NotContains(t, env, "JANITOR_BLOCKING_ALERTS", component)
		}
		if role := objs["Role/akash-janitor-"+component+"-provider-ready"]; needsProvider[component] {
			require.NotNil(t, role, component)
			assert.Equal(t, "provider", role.GetNamespace())
			assert.Equal(t, "provider/akash-provider-1", env["JANITOR_REQUIRE_READY_POD"])
		}
	}

	values["global"] = map[string]any{"blockers": map[string]any{"providerPod": ""}}
	objs, _, err = render(t, values)
	require.NoError(t, err)
	assert.Equal(t, "", componentEnv(t, objs, "force-replicasets")["JANITOR_REQUIRE_READY_POD"], "empty: not checked")
	assert.Nil(t, objs["Role/akash-janitor-force-replicasets-provider-ready"])

	_, _, err = render(t, map[string]any{"global": map[string]any{"blockers": map[string]any{"providerPod": "akash-provider-0"}}})
	assert.ErrorContains(t, err, "providerPod")
}

// provider.closeBudget: the two chain jobs get the budget's flags and may
// get and update its record, that one ConfigMap; 0 renders none of it.
func TestCloseBudget(t *testing.T) {
	objs, _, err := render(t, map[string]any{"danglingDeployments": map[string]any{"closeMissing": true}})
	require.NoError(t, err)
	require.NotNil(t, objs["ConfigMap/akash-janitor-close-budget"], "the record")
	assert.Empty(t, objs["ConfigMap/akash-janitor-close-budget"].Object["data"], "rendered without data: the jobs write it")
	for _, component := range []string{"kill-lease-by-image", "dangling-deployments"} {
		args := containerArgs(t, objs, component)
		assert.Contains(t, args, "--max-closes-per-day=20", component)
		assert.Contains(t, args, "--close-budget-configmap=akash-services/akash-janitor-close-budget", component)
		role := objs["Role/akash-janitor-"+component+"-close-budget"]
		require.NotNil(t, role, component)
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		assert.Equal(t, []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"},
			"resourceNames": []any{"akash-janitor-close-budget"}, "verbs": []any{"get", "update"}}}, rules)
	}
	assert.Nil(t, objs["Role/akash-janitor-force-replicasets-close-budget"], "a job that closes no lease")
	objs, _, err = render(t, map[string]any{"danglingDeployments": map[string]any{"closeReclaimed": false}})
	require.NoError(t, err)
	assert.Nil(t, objs["Role/akash-janitor-dangling-deployments-close-budget"], "dangling-deployments closes nothing unless closeMissing, closeWithoutNamespace or closeReclaimed")
	assert.NotContains(t, containerArgs(t, objs, "dangling-deployments"), "--key-file=/keys/key.txt", "no key where nothing is closed")

	objs, _, err = render(t, map[string]any{"provider": map[string]any{"closeBudget": 0}})
	require.NoError(t, err)
	assert.Nil(t, objs["ConfigMap/akash-janitor-close-budget"])
	assert.Nil(t, objs["Role/akash-janitor-kill-lease-by-image-close-budget"])
	assert.Contains(t, containerArgs(t, objs, "kill-lease-by-image"), "--max-closes-per-day=0")

	_, _, err = render(t, map[string]any{"provider": map[string]any{"closeBudget": -1}})
	assert.ErrorContains(t, err, "closeBudget")
}

// containerArgs are the args of a CronJob component's container.
func containerArgs(t *testing.T, objs map[string]*unstructured.Unstructured, component string) []string {
	t.Helper()
	u := objs["CronJob/akash-janitor-"+component]
	require.NotNil(t, u, component)
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
	var out []string
	for _, c := range containers {
		if c.(map[string]any)["name"] != component {
			continue
		}
		for _, a := range c.(map[string]any)["args"].([]any) {
			out = append(out, a.(string))
		}
	}
	return out
}

// provider.manifestNamespace, the provider's --k8s-manifest-ns: the jobs
// that read its CRs are told it, and their Roles are made there.
func TestManifestNamespace(t *testing.T) {
	objs, _, err := render(t, map[string]any{"provider": map[string]any{"manifestNamespace": "akash-crs"},
		"restoreCommand": map[string]any{"enabled": true}})
	require.NoError(t, err)
	for _, component := range []string{"kill-lease-by-image", "dangling-deployments", "restore-command"} {
		assert.Contains(t, containerArgs(t, objs, component), "--manifest-namespace=akash-crs", component)
		role := objs["Role/akash-janitor-"+component]
		require.NotNil(t, role, component)
		assert.Equal(t, "akash-crs", role.GetNamespace(), component)
	}
	_, _, err = render(t, map[string]any{"provider": map[string]any{"manifestNamespace": "Not A Namespace"}})
	assert.ErrorContains(t, err, "manifestNamespace")
}

// global.part splits the components between two releases: whatever is
// enabled, a node release renders only the two that read the node, a
// cluster release everything else.
func TestPartSplitsTheComponents(t *testing.T) {
	allOn := func(part string) map[string]any {
		v := map[string]any{"global": map[string]any{"part": part, "pauseNamespace": "akash-services"}}
		for key := range components {
			v[key] = map[string]any{"enabled": true}
		}
		return v
	}
	rendered := func(part string) map[string]bool {
		objs, _, err := render(t, allOn(part))
		require.NoError(t, err, part)
		out := map[string]bool{}
		for _, u := range objs {
			if c := u.GetLabels()["app.kubernetes.io/component"]; c != "" && (u.GetKind() == "CronJob" || u.GetKind() == "DaemonSet" || u.GetKind() == "Deployment") {
				out[c] = true
			}
		}
		return out
	}
	assert.Equal(t, map[string]bool{"zombie-reaper": true, "cert-expiry": true}, rendered("node"))
	cluster := rendered("cluster")
	assert.NotContains(t, cluster, "zombie-reaper")
	assert.NotContains(t, cluster, "cert-expiry")
	for _, c := range []string{"force-replicasets", "provider-doctor", "restore-command", "kill-lease-by-image", "dangling-deployments", "bid-price", "close-stale-bids"} {
		assert.Contains(t, cluster, c)
	}
	assert.Len(t, rendered("all"), len(components))

	_, _, err := render(t, map[string]any{"global": map[string]any{"part": "node"}})
	require.ErrorContains(t, err, "global.part=node needs global.pauseNamespace")
	_, _, err = render(t, map[string]any{"global": map[string]any{"part": "half"}})
	require.Error(t, err, "the schema knows the parts")
}

// gpuDoctor is providerDoctor's old name: values given under it are still
// read, over providerDoctor's, and the notes say to move them.
func TestGPUDoctorValuesStillRead(t *testing.T) {
	objs, notes, err := render(t, map[string]any{"gpuDoctor": map[string]any{"schedule": "5 * * * *", "minPending": "20m"}})
	require.NoError(t, err)
	cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-provider-doctor"])
	assert.Equal(t, "5 * * * *", cj.Spec.Schedule)
	assert.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--min-pending=20m")
	assert.Contains(t, notes, "gpuDoctor is now providerDoctor")
	assert.NotContains(t, objs, "CronJob/akash-janitor-gpu-doctor")
	_, notes, err = render(t, nil)
	require.NoError(t, err)
	assert.NotContains(t, notes, "gpuDoctor is now providerDoctor")
	_, _, err = render(t, map[string]any{"gpuDoctor": map[string]any{"schedule": "every hour"}})
	assert.Error(t, err, "the old name's values are held to the same schema")
}

// bid-price is in the provider's bidding path: its replicas spread over
// nodes by default (softly), a drain may evict an unready one, and both
// can be set.
func TestBidPriceSpreadsAndDrains(t *testing.T) {
	objs, _, err := render(t, map[string]any{"bidPrice": map[string]any{"enabled": true}})
	require.NoError(t, err)
	d := typed[appsv1.Deployment](t, objs["Deployment/akash-janitor-bid-price"])
	require.Len(t, d.Spec.Template.Spec.TopologySpreadConstraints, 1)
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints[0]
	assert.Equal(t, "kubernetes.io/hostname", tsc.TopologyKey)
	assert.Equal(t, corev1.ScheduleAnyway, tsc.WhenUnsatisfiable)
	assert.Equal(t, d.Spec.Selector.MatchLabels, tsc.LabelSelector.MatchLabels, "its own pods")
	pdb := typed[policyv1.PodDisruptionBudget](t, objs["PodDisruptionBudget/akash-janitor-bid-price"])
	require.NotNil(t, pdb.Spec.UnhealthyPodEvictionPolicy)
	assert.Equal(t, policyv1.AlwaysAllow, *pdb.Spec.UnhealthyPodEvictionPolicy)

	objs, _, err = render(t, map[string]any{"bidPrice": map[string]any{"enabled": true, "topologySpreadConstraints": []any{},
		"podDisruptionBudget": map[string]any{"unhealthyPodEvictionPolicy": "IfHealthyBudget"}}})
	require.NoError(t, err)
	d = typed[appsv1.Deployment](t, objs["Deployment/akash-janitor-bid-price"])
	assert.Empty(t, d.Spec.Template.Spec.TopologySpreadConstraints, "[]: none")
	pdb = typed[policyv1.PodDisruptionBudget](t, objs["PodDisruptionBudget/akash-janitor-bid-price"])
	assert.Equal(t, policyv1.IfHealthyBudget, *pdb.Spec.UnhealthyPodEvictionPolicy)
}

// Image pull secrets as names or as pod specs write them; one
// PriorityClass for every component, a component's own winning.
func TestPullSecretsAndPriorityClass(t *testing.T) {
	objs, _, err := render(t, map[string]any{
		"global":           map[string]any{"imagePullSecrets": []any{"regcred", map[string]any{"name": "mirror"}}, "priorityClassName": "janitor"},
		"forceReplicasets": map[string]any{"priorityClassName": "system-cluster-critical"},
	})
	require.NoError(t, err)
	for _, name := range []string{"force-replicasets", "provider-doctor", "close-stale-bids"} {
		cj := typed[batchv1.CronJob](t, objs["CronJob/akash-janitor-"+name])
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		assert.Equal(t, []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}}, pod.ImagePullSecrets, name)
		want := "janitor"
		if name == "force-replicasets" {
			want = "system-cluster-critical"
		}
		assert.Equal(t, want, pod.PriorityClassName, name)
	}
	ds := typed[appsv1.DaemonSet](t, objs["DaemonSet/akash-janitor-zombie-reaper"])
	assert.Equal(t, "janitor", ds.Spec.Template.Spec.PriorityClassName)
	_, _, err = render(t, map[string]any{"global": map[string]any{"imagePullSecrets": []any{map[string]any{"secret": "x"}}}})
	assert.Error(t, err, "a map without name")
}
