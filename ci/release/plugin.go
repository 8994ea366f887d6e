package main

// The kubectl plugin's release: one tar.gz per platform krew serves
// (kubectl-janitor and LICENSE), and the krew manifest written from
// plugins/janitor.yaml with the version and each archive's URL and sha256.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	pluginBinary   = "kubectl-janitor"
	pluginPackage  = "./cmd/kubectl-janitor"
	pluginTemplate = "plugins/janitor.yaml"
	// pluginManifest is the written manifest's name: krew wants the file
	// named after the plugin.
	pluginManifest = "janitor.yaml"
	module         = "github.com/akash-janitor/akash-janitor"
)

// pluginPlatforms are the platforms the plugin is built for: where
// operators run kubectl.
var pluginPlatforms = [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

func archiveName(version, goos, arch string) string {
	return fmt.Sprintf("%s_v%s_%s_%s.tar.gz", pluginBinary, version, goos, arch)
}

// krewPlugin is a krew manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin),
// as much of it as the template uses: unknown fields are refused.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string         `json:"version"`
		Homepage         string         `json:"homepage,omitempty"`
		ShortDescription string         `json:"shortDescription"`
		Description      string         `json:"description,omitempty"`
		Caveats          string         `json:"caveats,omitempty"`
		Platforms        []krewPlatform `json:"platforms"`
	} `json:"spec"`
}

type krewPlatform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string `json:"uri"`
	Sha256 string `json:"sha256"`
	Files  []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files,omitempty"`
	Bin string `json:"bin"`
}

func readManifest(file string) (*krewPlugin, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(raw, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name+".yaml" != pluginManifest {
		return nil, fmt.Errorf("%s: want a krew v1alpha2 Plugin named %s", file, strings.TrimSuffix(pluginManifest, ".yaml"))
	}
	return &p, nil
}

// packagePlugin builds the archives into out and writes the manifest
// there; it returns their paths.
func packagePlugin(version, out, downloadURL string) ([]string, error) {
	manifest, err := readManifest(pluginTemplate)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kubectl-janitor-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		return nil, err
	}
	var paths []string
	sums := map[[2]string]string{}
	for _, p := range pluginPlatforms {
		bin := filepath.Join(tmp, p[0]+"-"+p[1], pluginBinary)
		if err := buildPlugin(version, p[0], p[1], bin); err != nil {
			return nil, err
		}
		file := filepath.Join(out, archiveName(version, p[0], p[1]))
		sum, err := writeArchive(file, bin, license)
		if err != nil {
			return nil, err
		}
		sums[p] = sum
		paths = append(paths, file)
	}
	manifest.Spec.Version = "v" + version
	for i := range manifest.Spec.Platforms {
		pl := &manifest.Spec.Platforms[i]
		key := [2]string{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		sum, ok := sums[key]
		if !ok {
			return nil, fmt.Errorf("%s: platform %s/%s is not one the release builds (%v)", pluginTemplate, key[0], key[1], pluginPlatforms)
		}
		delete(sums, key)
		pl.URI = fmt.Sprintf("%s/v%s/%s", strings.TrimSuffix(downloadURL, "/"), version, archiveName(version, key[0], key[1]))
		pl.Sha256 = sum
	}
	for p := range sums {
		return nil, fmt.Errorf("%s names no platform %s/%s, which the release builds", pluginTemplate, p[0], p[1])
	}
	raw, err := yaml.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(out, pluginManifest)
	header := fmt.Sprintf("# kubectl janitor %s, written by ci/release from %s.\n", version, pluginTemplate)
	if err := os.WriteFile(file, append([]byte(header), raw...), 0o644); err != nil {
		return nil, err
	}
	return append(paths, file), nil
}

// buildPlugin cross-compiles the plugin, stamped with the version and
// commit as make build stamps the jobs.
func buildPlugin(version, goos, arch, bin string) error {
	commit := os.Getenv("REVISION")
	if commit == "" {
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			commit = strings.TrimSpace(string(out))
		} else {
			commit = "unknown"
		}
	}
	ldflags := fmt.Sprintf("-s -w -X %s/lib/version.Version=%s -X %s/lib/version.Commit=%s", module, version, module, commit)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, pluginPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w", pluginPackage, goos, arch, err)
	}
	return nil
}

// writeArchive writes the tar.gz, the same bytes for the same binary (no
// time, owner or name of this machine in it), and returns its sha256.
func writeArchive(file, bin string, license []byte) (string, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{pluginBinary, 0o755, exe}, {"LICENSE", 0o644, license}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// checkPlugin holds the written manifest to the archives: version vV, one
// platform for each archive and each built platform, each URL naming its
// archive and each sha256 the archive's; each archive holds the binary, and
// the one for this machine says it is version V.
func checkPlugin(version, out string) error {
	manifest, err := readManifest(filepath.Join(out, pluginManifest))
	if err != nil {
		return fmt.Errorf("the krew manifest (run release package first): %w", err)
	}
	var problems []string
	if manifest.Spec.Version != "v"+version {
		problems = append(problems, fmt.Sprintf("the manifest's version is %q, not v%s", manifest.Spec.Version, version))
	}
	archives, err := filepath.Glob(filepath.Join(out, fmt.Sprintf("%s_v%s_*.tar.gz", pluginBinary, version)))
	if err != nil {
		return err
	}
	named := map[string]bool{}
	for _, pl := range manifest.Spec.Platforms {
		goos, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		want := archiveName(version, goos, arch)
		if path.Base(pl.URI) != want {
			problems = append(problems, fmt.Sprintf("platform %s/%s: uri %s does not name %s", goos, arch, pl.URI, want))
			continue
		}
		named[want] = true
		raw, err := os.ReadFile(filepath.Join(out, want))
		if err != nil {
			problems = append(problems, fmt.Sprintf("platform %s/%s: %v", goos, arch, err))
			continue
		}
		sum := sha256.Sum256(raw)
		if got := hex.EncodeToString(sum[:]); got != pl.Sha256 {
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, the manifest says %s", want, got, pl.Sha256))
		}
		exe, err := fromArchive(raw, pl.Bin)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", want, err))
			continue
		}
		if goos == runtime.GOOS && arch == runtime.GOARCH {
			if err := checkVersion(exe, version); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", want, err))
			}
		}
	}
	for _, p := range pluginPlatforms {
		if !named[archiveName(version, p[0], p[1])] {
			problems = append(problems, fmt.Sprintf("the manifest names no archive for %s/%s", p[0], p[1]))
		}
	}
	for _, a := range archives {
		if !named[filepath.Base(a)] {
			problems = append(problems, fmt.Sprintf("the manifest does not name %s", filepath.Base(a)))
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("the krew manifest %s names the %d plugin archives, each with its sha256\n", filepath.Join(out, pluginManifest), len(named))
	return nil
}

// fromArchive is the executable file name of a tar.gz.
func fromArchive(raw []byte, name string) ([]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s in the archive", name)
		}
		if err != nil {
			return nil, err
		}
		if h.Name != name {
			continue
		}
		if h.Mode&0o111 == 0 {
			return nil, fmt.Errorf("%s is not executable (mode %o)", name, h.Mode)
		}
		return io.ReadAll(tr)
	}
}

// checkVersion runs the plugin built for this machine: `version` must say
// the release's version.
func checkVersion(exe []byte, version string) error {
	dir, err := os.MkdirTemp("", "kubectl-janitor-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, pluginBinary)
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %v: %s", pluginBinary, err, out)
	}
	if !strings.HasPrefix(string(out), pluginBinary+" "+version+" ") {
		return fmt.Errorf("%s version says %q, not version %s", pluginBinary, strings.TrimSpace(string(out)), version)
	}
	return nil
}
