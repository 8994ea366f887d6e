// Command release packages and publishes what a tag releases, the same way
// on a laptop (make release-dry) and in the release workflow
// (.github/workflows/release.yaml):
//
//	release package --version V [--out dist]      the chart, version and appVersion V; the
//	                [--download-url U]            kubectl plugin's archives (linux, darwin;
//	                                              amd64, arm64) and its krew manifest
//	                                              (janitor.yaml), their URLs U/vV/<archive>
//	release check   --version V --registry R      the packaged chart's default images are
//	                                              R/<binary>:V, one for every binary under jobs/;
//	                                              the krew manifest names every archive, each
//	                                              with its sha256
//	release push    --chart FILE --to oci://...   the chart as an OCI artifact
//	                                              (credentials: HELM_REGISTRY_USERNAME/PASSWORD)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fail("want a command: package, check or push")
	}
	fs := flag.NewFlagSet("release "+os.Args[1], flag.ExitOnError)
	version := fs.String("version", "", "the release's version, without the v (0.2.0)")
	out := fs.String("out", "dist", "where the chart package, the plugin archives and the krew manifest go")
	reg := fs.String("registry", "ghcr.io/akash-janitor", "the image registry and repository the images are pushed to")
	chartFile := fs.String("chart", "", "the chart package to push")
	to := fs.String("to", "", "the OCI repository to push the chart to (oci://ghcr.io/<owner>/charts)")
	downloadURL := fs.String("download-url", "https://github.com/akash-janitor/akash-janitor/releases/download", "where the release's files are downloaded from: the krew manifest's URLs are <this>/v<version>/<archive>")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "package":
		var path string
		if path, err = packageChart(*version, *out); err == nil {
			fmt.Println(path)
			var paths []string
			if paths, err = packagePlugin(*version, *out, *downloadURL); err == nil {
				fmt.Println(strings.Join(paths, "\n"))
			}
		}
	case "check":
		err = errors.Join(check(*version, *reg, *out), checkPlugin(*version, *out))
	case "push":
		err = push(*chartFile, *to)
	default:
		err = fmt.Errorf("unknown command %q: want package, check or push", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "release:", msg)
	os.Exit(1)
}

func packageChart(version, out string) (string, error) {
	if version == "" || strings.HasPrefix(version, "v") {
		return "", fmt.Errorf("--version=%q: want the version without a v, e.g. 0.2.0", version)
	}
	p := action.NewPackage()
	p.Version, p.AppVersion, p.Destination = version, version, out
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	return p.Run("charts/akash-janitor", nil)
}

// check renders the packaged chart with every component on and compares
// the images it names with those ci/images.sh pushes.
func check(version, reg, out string) error {
	path := filepath.Join(out, "akash-janitor-"+version+".tgz")
	chrt, err := loader.Load(path)
	if err != nil {
		return fmt.Errorf("load the package (run release package first): %w", err)
	}
	on := map[string]any{"enabled": true}
	values := map[string]any{}
	for _, c := range []string{"forceReplicasets", "killLeaseByImage", "danglingDeployments", "zombieReaper", "bidPrice", "providerDoctor", "restoreCommand", "certExpiry"} {
		values[c] = on
	}
	host, repo, _ := strings.Cut(reg, "/")
	values["global"] = map[string]any{"image": map[string]any{"registry": host, "repository": repo}}
	inst := action.NewInstall(&action.Configuration{})
	inst.ClientOnly, inst.DryRun, inst.ReleaseName, inst.Namespace = true, true, "akash-janitor", "akash-services"
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.34.4", Major: "1", Minor: "34"}
	rel, err := inst.Run(chrt, values)
	if err != nil {
		return fmt.Errorf("render the package: %w", err)
	}
	rendered := map[string]bool{}
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return err
		}
		u := unstructured.Unstructured{Object: m}
		for _, p := range [][]string{{"spec", "template", "spec"}, {"spec", "jobTemplate", "spec", "template", "spec"}} {
			for _, list := range []string{"containers", "initContainers"} {
				cs, _, _ := unstructured.NestedSlice(u.Object, append(p, list)...)
				for _, c := range cs {
					if img, ok := c.(map[string]any)["image"].(string); ok {
						rendered[img] = true
					}
				}
			}
		}
	}
	dirs, err := os.ReadDir("jobs")
	if err != nil {
		return err
	}
	pushed := map[string]bool{}
	for _, d := range dirs {
		if d.IsDir() {
			pushed[reg+"/"+d.Name()+":"+version] = true
		}
	}
	var problems []string
	for img := range rendered {
		if !pushed[img] {
			problems = append(problems, "the chart names "+img+", which the release does not push")
		}
	}
	for img := range pushed {
		if !rendered[img] && !strings.Contains(img, "/close-lease:") { // close-lease is run by hand
			problems = append(problems, "the release pushes "+img+", which the chart never names")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	fmt.Printf("the chart %s names the %d images the release pushes\n", chrt.Metadata.Version, len(rendered))
	return nil
}

func push(chartFile, to string) error {
	if chartFile == "" || !strings.HasPrefix(to, "oci://") {
		return fmt.Errorf("--chart and --to oci://... are needed")
	}
	client, err := registry.NewClient()
	if err != nil {
		return err
	}
	host := strings.SplitN(strings.TrimPrefix(to, "oci://"), "/", 2)[0]
	if u, p := os.Getenv("HELM_REGISTRY_USERNAME"), os.Getenv("HELM_REGISTRY_PASSWORD"); u != "" {
		if err := client.Login(host, registry.LoginOptBasicAuth(u, p)); err != nil {
			return fmt.Errorf("log in to %s: %w", host, err)
		}
	}
	cfg := &action.Configuration{RegistryClient: client}
	out, err := action.NewPushWithOpts(action.WithPushConfig(cfg)).Run(chartFile, to)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}
