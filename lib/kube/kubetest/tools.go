package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ToolsEnv names the directory of the simulated cluster's binaries.
const ToolsEnv = "AKASH_JANITOR_TOOLS"

// Binaries the simulated cluster runs.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "prometheus"}

// ToolsDir finds the binaries: $AKASH_JANITOR_TOOLS if set, else the cache
// that ci/tools.sh fills (running it, which builds whatever is missing).
func ToolsDir() (string, error) {
	if dir := os.Getenv(ToolsEnv); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("simulated cluster tools: %s is not set and %w", ToolsEnv, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, "ci", "tools.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ci/tools.sh failed (run `make tools` to see why): %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func checkTools(dir string) error {
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("simulated cluster tools missing from %s: %s (run `make tools`)", dir, strings.Join(missing, ", "))
	}
	return nil
}

// repoRoot walks up from the working directory to the module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "ci", "tools.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("ci/tools.sh was not found above the working directory")
		}
		dir = parent
	}
}
