package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The schemas are named as kubeconform looks them up, and strict: a
// property the API does not define is refused, int-or-string and quantity
// take numbers as the API server does.
func TestWriteSchemas(t *testing.T) {
	swagger := `{"definitions": {
	  "io.k8s.api.apps.v1.Deployment": {"type": "object",
	    "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}},
	    "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}]},
	  "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "description": "dropped",
	    "properties": {"maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
	                   "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
	                   "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
	  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
	  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
	  "io.k8s.api.core.v1.ConfigMap": {"type": "object", "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}},
	    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "ConfigMap"}]},
	  "io.k8s.api.rbac.v1.Role": {"type": "object", "properties": {"rules": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.rbac.v1.Role"}}},
	    "x-kubernetes-group-version-kind": [{"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "Role"}]}
	}}`
	dir := t.TempDir()
	n, err := writeSchemas([]byte(swagger), dir)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	for _, f := range []string{"deployment-apps-v1.json", "configmap-v1.json", "role-rbac-v1.json"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	var d map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "deployment-apps-v1.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &d))
	assert.Equal(t, false, d["additionalProperties"])
	spec := d["properties"].(map[string]any)["spec"].(map[string]any)
	assert.Equal(t, false, spec["additionalProperties"], "a $ref is inlined and closed")
	assert.NotContains(t, spec, "description")
	props := spec["properties"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}, props["maxSurge"].(map[string]any)["oneOf"])
	assert.Equal(t, []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}, props["cpu"].(map[string]any)["oneOf"])
	assert.Equal(t, map[string]any{"type": "string"}, props["labels"].(map[string]any)["additionalProperties"], "a map stays open to any key")

	// A definition inside itself is left open rather than looping.
	b, err = os.ReadFile(filepath.Join(dir, "role-rbac-v1.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &d))
	assert.Equal(t, map[string]any{}, d["properties"].(map[string]any)["rules"].(map[string]any)["items"])

	_, err = writeSchemas([]byte(`{"swagger": "2.0"}`), dir)
	assert.ErrorContains(t, err, "no definitions")
	_, err = writeSchemas([]byte(`not json`), dir)
	assert.ErrorContains(t, err, "not JSON")
}

func TestWriteCRDSchemas(t *testing.T) {
	dir := t.TempDir()
	crd, err := os.ReadFile(filepath.Join("..", "..", "charts", "akash-janitor", "crds", "imagedenylists.yaml"))
	require.NoError(t, err)
	require.NoError(t, writeCRDSchemas(crd, dir))
	files, err := filepath.Glob(filepath.Join(dir, "imagedenylist-akash-janitor-*.json"))
	require.NoError(t, err)
	assert.NotEmpty(t, files, "the chart's own CRD has a schema")
	assert.ErrorContains(t, writeCRDSchemas([]byte("kind: ConfigMap\n"), dir), "no kind or no version")
}

// kube-score's JSON: checks graded a warning or worse, not skipped by an
// annotation, are findings.
func TestParseScore(t *testing.T) {
	out := `[{"object_name": "CronJob/batch/v1/ns/a", "type_meta": {"kind": "CronJob"}, "object_meta": {"name": "a"},
	  "checks": [
	    {"check": {"id": "container-resources"}, "grade": 5, "comments": [{"path": "job", "summary": "CPU limit is not set"}]},
	    {"check": {"id": "pod-probes"}, "grade": 10},
	    {"check": {"id": "container-security-context-user-group-id"}, "grade": 1, "skipped": true},
	    {"check": {"id": "pod-networkpolicy"}, "grade": 1, "comments": [{"summary": "no policy"}]}]}]`
	got, err := parseScore([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, []finding{
		{"container-resources", "CronJob/a", "job CPU limit is not set"},
		{"pod-networkpolicy", "CronJob/a", "no policy"},
	}, got)
	_, err = parseScore([]byte("garbage"))
	assert.ErrorContains(t, err, "not the JSON expected")
}

// The allowlist needs a reason on every line, matches by check and
// Kind/name glob, and reports the lines nothing needed.
func TestAllowlist(t *testing.T) {
	file := filepath.Join(t.TempDir(), "allow.txt")
	require.NoError(t, os.WriteFile(file, []byte("# comment\n\ncontainer-resources */* no CPU limits on purpose\npod-probes Deployment/x probes are elsewhere\n"), 0o644))
	a, err := readAllowlist(file)
	require.NoError(t, err)
	assert.True(t, a.justifies(finding{check: "container-resources", object: "CronJob/a"}))
	assert.False(t, a.justifies(finding{check: "pod-networkpolicy", object: "CronJob/a"}))
	assert.False(t, a.justifies(finding{check: "pod-probes", object: "Deployment/y"}))
	unused := a.unused()
	require.Len(t, unused, 1)
	assert.Equal(t, 4, unused[0].line)

	require.NoError(t, os.WriteFile(file, []byte("container-resources */*\n"), 0o644))
	_, err = readAllowlist(file)
	assert.ErrorContains(t, err, "the reason")
	require.NoError(t, os.WriteFile(file, []byte("x [ bad pattern\n"), 0o644))
	_, err = readAllowlist(file)
	assert.ErrorContains(t, err, "pattern")
}
