// Package images tests the container images: built with podman from the
// repository's Dockerfile, inspected, and the binary taken out of the image's
// filesystem and run. podman can build but not run containers here, so the
// binary is run from the extracted layers.
package images

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForceReplicasetsImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image with podman; run without -short (make test)")
	}
	podman, err := exec.LookPath("podman")
	require.NoError(t, err, "podman is needed to build images (apt-get install podman); .ci/run installs it")
	build := exec.Command("bash", "../ci/images.sh", "build", "force-replicasets", "bid-price")
	build.Env = append(os.Environ(), "PLATFORMS=linux/amd64", "VERSION=v0.0.0-test", "REVISION=abc123", "REGISTRY=localhost/akash-janitor-test")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	image := "localhost/akash-janitor-test/force-replicasets:v0.0.0-test-amd64"
	bidPrice := "localhost/akash-janitor-test/bid-price:v0.0.0-test-amd64"
	t.Cleanup(func() {
		for _, img := range []string{image, bidPrice} {
			_ = exec.Command(podman, "manifest", "rm", strings.TrimSuffix(img, "-amd64")).Run()
			_ = exec.Command(podman, "rmi", "-f", img).Run()
		}
	})

	raw, err := exec.Command(podman, "image", "inspect", image).Output()
	require.NoError(t, err)
	var inspected []struct {
		Config struct {
			User       string
			Entrypoint []string
			Labels     map[string]string
		}
		Architecture string
	}
	require.NoError(t, json.Unmarshal(raw, &inspected))
	require.Len(t, inspected, 1)
	cfg := inspected[0].Config
	assert.Equal(t, "65532:65532", cfg.User, "non-root")
	assert.Equal(t, []string{"/janitor"}, cfg.Entrypoint)
	assert.Equal(t, "amd64", inspected[0].Architecture)
	assert.Equal(t, "v0.0.0-test", cfg.Labels["org.opencontainers.image.version"])
	assert.Equal(t, "abc123", cfg.Labels["org.opencontainers.image.revision"])
	assert.Equal(t, "https://github.com/akash-janitor/akash-janitor", cfg.Labels["org.opencontainers.image.source"])
	assert.Equal(t, "force-replicasets", cfg.Labels["org.opencontainers.image.title"])

	// Unpack the image's filesystem and run the binary it carries.
	root := rootfsOf(t, podman, image)
	_, err = os.Stat(filepath.Join(root, "usr/local/bin/bid-price-script"))
	assert.True(t, os.IsNotExist(err), "a job's companions are in its own image only")

	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	require.NoError(t, err)
	assert.Contains(t, string(passwd), "nonroot:x:65532:65532")
	assert.FileExists(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	assert.FileExists(t, filepath.Join(root, "usr/share/zoneinfo/Etc/UTC"))
	entries, err := os.ReadDir(filepath.Join(root, "bin"))
	assert.True(t, os.IsNotExist(err) || len(entries) == 0, "no shell or tools in the image")

	help, err := exec.Command(filepath.Join(root, "janitor"), "--help").CombinedOutput()
	require.NoError(t, err, "%s", help)
	assert.Contains(t, string(help), "force-replicasets: delete the older ReplicaSets")
	version, err := exec.Command(filepath.Join(root, "janitor"), "--version").CombinedOutput()
	require.NoError(t, err)
	assert.Regexp(t, `^force-replicasets v0\.0\.0-test \(commit abc123, go1\.\d+`, string(version), "version and commit stamped at build")

	// bid-price's image carries its drop-in beside it, for operators to
	// copy into the provider's pod.
	root = rootfsOf(t, podman, bidPrice)
	version, err = exec.Command(filepath.Join(root, "usr/local/bin/bid-price-script"), "--version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	assert.Regexp(t, `^bid-price-script v0\.0\.0-test \(commit abc123, go1\.\d+`, string(version))
}

// rootfsOf saves an image and unpacks its filesystem.
func rootfsOf(t *testing.T, podman, image string) string {
	t.Helper()
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	out, err := exec.Command(podman, "save", "--format", "docker-archive", "-o", archive, image).CombinedOutput()
	require.NoError(t, err, "%s", out)
	root := filepath.Join(dir, "rootfs")
	unpackImage(t, archive, root)
	return root
}

// unpackImage extracts every layer of a docker-archive into root.
func unpackImage(t *testing.T, archive, root string) {
	t.Helper()
	layersDir := filepath.Join(filepath.Dir(archive), "layers")
	require.NoError(t, untar(archive, layersDir))
	raw, err := os.ReadFile(filepath.Join(layersDir, "manifest.json"))
	require.NoError(t, err)
	var manifest []struct{ Layers []string }
	require.NoError(t, json.Unmarshal(raw, &manifest))
	require.Len(t, manifest, 1)
	for _, layer := range manifest[0].Layers {
		require.NoError(t, untar(filepath.Join(layersDir, layer), root))
	}
}

func untar(archive, dest string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			continue
		}
		path := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			out.Close()
		}
	}
}
