// Command chartscan runs the scanners a platform team points at a chart on
// what charts/akash-janitor renders: its defaults and every
// charts/akash-janitor/ci/*-values.yaml (chart-testing's convention). It
// fails on a kubeconform error (strict, against schemas written offline from
// the Kubernetes OpenAPI document of the k8s.io/kubernetes module the
// simulated cluster is built from) and on a kube-score finding the allowlist
// does not justify, or an allowlist entry no render needs any more.
//
//	go run ./ci/chartscan -kube-score BIN -kubeconform BIN -openapi swagger.json -schemas DIR
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

// kindsWithoutSchema are the kinds kubeconform is told to skip: the
// Prometheus Operator's, whose CRDs are not in any module here. Their rules
// are parsed and rule-tested by charts/monitoring_test.go instead.
var kindsWithoutSchema = []string{"PrometheusRule", "PodMonitor"}

func main() {
	kubeScore := flag.String("kube-score", "kube-score", "the kube-score binary")
	kubeconform := flag.String("kubeconform", "kubeconform", "the kubeconform binary")
	openapi := flag.String("openapi", "", "the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json of k8s.io/kubernetes)")
	schemas := flag.String("schemas", "", "where the schemas are written (kept: a directory that has them is used as is)")
	allowFile := flag.String("allow", "ci/lint/kube-score-allow.txt", "the kube-score findings justified, one per line")
	kubeVersion := flag.String("kube-version", "v1.34.4", "the Kubernetes version rendered for and checked against")
	flag.Parse()
	if err := run(*kubeScore, *kubeconform, *openapi, *schemas, *allowFile, *kubeVersion); err != nil {
		fmt.Fprintln(os.Stderr, "chartscan:", err)
		os.Exit(1)
	}
}

func run(kubeScore, kubeconform, openapi, schemas, allowFile, kubeVersion string) error {
	if openapi == "" || schemas == "" {
		return fmt.Errorf("-openapi and -schemas are required")
	}
	if err := ensureSchemas(openapi, schemas); err != nil {
		return err
	}
	allow, err := readAllowlist(allowFile)
	if err != nil {
		return err
	}
	renders, err := renders(kubeVersion)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "chartscan")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var failed []string
	for _, r := range renders {
		file := filepath.Join(tmp, r.name+".yaml")
		if err := os.WriteFile(file, []byte(r.manifest), 0o644); err != nil {
			return err
		}
		out, err := exec.Command(kubeconform, "-strict", "-summary",
			"-kubernetes-version", strings.TrimPrefix(kubeVersion, "v"),
			"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
			"-skip", strings.Join(kindsWithoutSchema, ","), file).CombinedOutput()
		fmt.Printf("kubeconform %s: %s", r.name, out)
		if err != nil {
			failed = append(failed, fmt.Sprintf("kubeconform on the %s render: %v", r.name, err))
		}
		findings, err := score(kubeScore, kubeVersion, file)
		if err != nil {
			return fmt.Errorf("kube-score on the %s render: %w", r.name, err)
		}
		for _, f := range findings {
			if !allow.justifies(f) {
				failed = append(failed, fmt.Sprintf("kube-score on the %s render: %s", r.name, f))
			}
		}
		fmt.Printf("kube-score %s: %d findings, every one justified in %s\n", r.name, len(findings), allowFile)
	}
	for _, e := range allow.unused() {
		failed = append(failed, fmt.Sprintf("%s:%d: %s %s justifies nothing any render shows: remove it", allowFile, e.line, e.check, e.object))
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("%d problems:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

type render struct{ name, manifest string }

// renders are the chart's default render and one per ci/*-values.yaml.
func renders(kubeVersion string) ([]render, error) {
	manifest, _, err := charttest.Manifest(kubeVersion, nil)
	if err != nil {
		return nil, fmt.Errorf("rendering the defaults: %w", err)
	}
	out := []render{{"defaults", manifest}}
	files, err := filepath.Glob(filepath.Join(charttest.ChartDir(), "ci", "*-values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		values := map[string]any{}
		if err := yaml.Unmarshal(b, &values); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		manifest, _, err := charttest.Manifest(kubeVersion, values)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", f, err)
		}
		out = append(out, render{strings.TrimSuffix(filepath.Base(f), "-values.yaml"), manifest})
	}
	return out, nil
}

// ensureSchemas writes the schemas once: from the OpenAPI document, and
// from the chart's own CRDs.
func ensureSchemas(openapi, dir string) error {
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err != nil {
		swagger, err := os.ReadFile(openapi)
		if err != nil {
			return fmt.Errorf("the Kubernetes OpenAPI document: %w", err)
		}
		n, err := writeSchemas(swagger, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", openapi, err)
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return err
		}
		fmt.Printf("chartscan: %d schemas written to %s\n", n, dir)
	}
	// The chart's CRDs change with the chart: written every run.
	crds, err := filepath.Glob(filepath.Join(charttest.ChartDir(), "crds", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := writeCRDSchemas(b, dir); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// finding is one kube-score check an object fails.
type finding struct{ check, object, summary string }

func (f finding) String() string { return f.check + " " + f.object + ": " + f.summary }

// score runs kube-score and returns the checks graded a warning or worse
// that no kube-score/ignore annotation skipped.
func score(bin, kubeVersion, file string) ([]finding, error) {
	minor := strings.Join(strings.Split(kubeVersion, ".")[:2], ".")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "score", "--output-format", "json", "--kubernetes-version", minor, file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// kube-score exits 1 when it finds something: the JSON says what.
	if err := cmd.Run(); err != nil && stdout.Len() == 0 {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return parseScore(stdout.Bytes())
}

func parseScore(b []byte) ([]finding, error) {
	var objs []struct {
		TypeMeta struct {
			Kind string `json:"kind"`
		} `json:"type_meta"`
		ObjectMeta struct {
			Name string `json:"name"`
		} `json:"object_meta"`
		Checks []struct {
			Check struct {
				ID string `json:"id"`
			} `json:"check"`
			Grade    int  `json:"grade"`
			Skipped  bool `json:"skipped"`
			Comments []struct {
				Path    string `json:"path"`
				Summary string `json:"summary"`
			} `json:"comments"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &objs); err != nil {
		return nil, fmt.Errorf("its output is not the JSON expected: %w", err)
	}
	var out []finding
	for _, o := range objs {
		for _, c := range o.Checks {
			// Grades: 1 critical, 5 warning, 7 and 10 OK (kube-score scorecard/scorecard.go).
			if c.Skipped || c.Grade > 5 {
				continue
			}
			var summaries []string
			for _, cm := range c.Comments {
				summaries = append(summaries, strings.TrimSpace(cm.Path+" "+cm.Summary))
			}
			out = append(out, finding{c.Check.ID, o.TypeMeta.Kind + "/" + o.ObjectMeta.Name, strings.Join(summaries, "; ")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}
