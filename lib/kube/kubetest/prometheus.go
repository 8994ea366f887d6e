package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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

// WaitFiring waits until the ALERTS series holds n firing alerts, as a
// job's query sees them (the alerts API shows an alert a moment before
// the series has it).
func (p *Prometheus) WaitFiring(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	query := p.URL + "/api/v1/query?query=" + url.QueryEscape(`ALERTS{alertstate="firing"}`)
	for {
		if got, err := p.count(ctx, query); err == nil && got == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Prometheus at %s did not fire %d alerts: %w", p.URL, n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *Prometheus) count(ctx context.Context, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, query, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return len(body.Data.Result), nil
}
