package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// writeSchemas writes one JSON schema per kind and version that the
// Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json of the
// k8s.io/kubernetes module) defines, named as kubeconform looks them up
// with -schema-location DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json, every
// $ref inlined and, being strict, no property the API does not define.
func writeSchemas(swagger []byte, dir string) (int, error) {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &doc); err != nil {
		return 0, fmt.Errorf("the OpenAPI document is not JSON: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return 0, fmt.Errorf("the OpenAPI document has no definitions")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			schema := inline(def, doc.Definitions, map[string]bool{name: true})
			if err := writeSchema(dir, group, version, kind, schema); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// writeCRDSchemas writes the schema of every version a CustomResourceDefinition
// (as YAML) serves, from its openAPIV3Schema, strict as the others.
func writeCRDSchemas(crd []byte, dir string) error {
	var c struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(crd, &c); err != nil {
		return fmt.Errorf("not a CustomResourceDefinition: %w", err)
	}
	if c.Spec.Names.Kind == "" || len(c.Spec.Versions) == 0 {
		return fmt.Errorf("a CustomResourceDefinition with no kind or no version")
	}
	for _, v := range c.Spec.Versions {
		if v.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("%s %s has no openAPIV3Schema", c.Spec.Names.Kind, v.Name)
		}
		if err := writeSchema(dir, c.Spec.Group, v.Name, c.Spec.Names.Kind, inline(v.Schema.OpenAPIV3Schema, nil, nil)); err != nil {
			return err
		}
	}
	return nil
}

// schemaFile is kubeconform's name for a kind's schema (its registry's
// ResourceKind and KindSuffix: the group's first label, then the version).
func schemaFile(group, version, kind string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

func writeSchema(dir, group, version, kind string, schema map[string]any) error {
	b, err := json.Marshal(schema)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, schemaFile(group, version, kind)), b, 0o644)
}

// inline returns a copy of schema with every #/definitions/ reference
// replaced by the definition, Kubernetes' string-typed int-or-string and
// quantity opened to numbers as the API server accepts them, and every
// object that lists its properties closed to others. A definition met again
// inside itself (JSONSchemaProps) is left open: {}.
func inline(schema map[string]any, defs map[string]map[string]any, seen map[string]bool) map[string]any {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		def, found := defs[name]
		if !found || seen[name] {
			return map[string]any{}
		}
		next := map[string]bool{name: true}
		for k := range seen {
			next[k] = true
		}
		if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		}
		return inline(def, defs, next)
	}
	if schema["format"] == "int-or-string" || schema["x-kubernetes-int-or-string"] == true {
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	}
	out := map[string]any{}
	for k, v := range schema {
		switch k {
		case "properties", "patternProperties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = inline(p.(map[string]any), defs, seen)
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			if m, ok := v.(map[string]any); ok {
				out[k] = inline(m, defs, seen)
			} else {
				out[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, s := range v.([]any) {
				list = append(list, inline(s.(map[string]any), defs, seen))
			}
			out[k] = list
		case "description", "x-kubernetes-group-version-kind":
			// Not a constraint; left out to keep the files small.
		default:
			out[k] = v
		}
	}
	if _, open := out["additionalProperties"]; !open && out["properties"] != nil && out["x-kubernetes-preserve-unknown-fields"] != true {
		out["additionalProperties"] = false
	}
	return out
}
