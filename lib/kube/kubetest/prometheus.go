package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Prometheus is a real Prometheus server (built by ci/tools.sh) that
// evaluates alerting rules, for jobs that ask it whether an alert fires.
type Prometheus struct {
	// URL is its HTTP API, http://127.0.0.1:<port>.
	URL  string
	proc *process
}

// StartPrometheus starts a Prometheus that evaluates rules (the YAML of a
// rule file) every second, and returns once it answers. It stops with the
// cluster, or earlier with Stop.
func (c *Cluster) StartPrometheus(ctx context.Context, name, rules string) (*Prometheus, error) {
	dir := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rules), 0o644); err != nil {
		return nil, err
	}
	config := fmt.Sprintf("global:\n  evaluation_interval: 1s\nrule_files: [%s]\n", strconv.Quote(rulesPath))
	configPath := filepath.Join(dir, "prometheus.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	proc, err := c.spawn(name, filepath.Join(c.tools, "prometheus"),
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := proc.waitHealthy(ctx, "http://"+addr+"/-/ready"); err != nil {
		return nil, fmt.Errorf("%w (see %s.log in %s)", err, name, c.Dir)
	}
	return &Prometheus{URL: "http://" + addr, proc: proc}, nil
}

// Stop stops the server: afterwards it cannot be asked.
func (p *Prometheus) Stop() error { return p.proc.stop() }
