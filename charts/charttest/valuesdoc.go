package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// ValuesDoc writes the chart's README from values.yaml: a section for each
// top-level block, with the comment above it, and a row for every value
// with its default and the comment above it.
func ValuesDoc(values []byte) (string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(values, &root); err != nil {
		return "", fmt.Errorf("values.yaml: %w", err)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("values.yaml: want a mapping at the top")
	}
	var b strings.Builder
	b.WriteString("# The akash-janitor chart\n\n")
	b.WriteString("<!-- Generated from values.yaml by `make chart-docs`; edit the comments there, not this file. -->\n\n")
	b.WriteString("One chart for every akash-janitor component, installed next to akash-provider:\n\n")
	b.WriteString("```sh\nhelm install akash-janitor charts/akash-janitor -n akash-services -f values.yaml\n```\n\n")
	b.WriteString("The project's README says what each component does and how it is tested. Below, every value,\n")
	b.WriteString("its default and what it does, block by block; `values.schema.json` refuses what does not fit.\n")
	top := root.Content[0]
	if c := comment(top.HeadComment); c != "" {
		b.WriteString("\n" + c + "\n")
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		fmt.Fprintf(&b, "\n## `%s`\n\n", key.Value)
		if c := comment(key.HeadComment); c != "" {
			b.WriteString(c + "\n\n")
		}
		b.WriteString("| value | default | what it does |\n|---|---|---|\n")
		// A top-level value that is not a block is its own row, with its
		// comment.
		own := ""
		if val.Kind != yaml.MappingNode || len(val.Content) == 0 {
			own = strings.TrimPrefix(comment(key.HeadComment), key.Value+": ")
		}
		if err := rows(&b, key.Value, val, own); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// rows writes one row a leaf below path; a mapping's own comment is handed
// to its leaves that have none.
func rows(b *strings.Builder, path string, n *yaml.Node, inherited string) error {
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			c := comment(key.HeadComment)
			if c == "" {
				c = inherited
			}
			if err := rows(b, path+"."+key.Value, val, strings.TrimPrefix(c, key.Value+": ")); err != nil {
				return err
			}
		}
		return nil
	}
	def, err := defaultOf(n)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if strings.TrimSpace(inherited) == "" {
		return fmt.Errorf("%s has no comment in values.yaml: every value says what it does (a comment above it, or above the block it is in)", path)
	}
	fmt.Fprintf(b, "| `%s` | %s | %s |\n", path, def, cell(inherited))
	return nil
}

func defaultOf(n *yaml.Node) (string, error) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "`null`", nil
	case n.Kind == yaml.ScalarNode && n.Value == "":
		return `""`, nil
	case n.Kind == yaml.ScalarNode:
		return "`" + n.Value + "`", nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return "`" + strings.TrimSpace(buf.String()) + "`", nil
}

var commentMark = regexp.MustCompile(`(?m)^#\s?`)

// comment is a YAML comment as text: one paragraph, the # marks gone.
func comment(c string) string {
	c = commentMark.ReplaceAllString(strings.TrimSpace(c), "")
	var out []string
	for _, l := range strings.Split(c, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
