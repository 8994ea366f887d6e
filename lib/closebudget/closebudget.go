// Package closebudget is a rolling daily budget of lease closes shared by
// every job that closes leases (kill-lease-by-image, dangling-deployments,
// close-lease). --max-actions bounds one run; this bounds a day, whatever
// the number of runs and jobs: a runaway denylist or a doubtful chain
// answer cannot close more than the operator allowed in 24 hours.
//
// The record is one ConfigMap (the chart creates it): its "closes" key
// holds the closes of the last 24 hours, each with its time, lease and job.
// It is read and written with the API server's optimistic concurrency
// (every update carries the resourceVersion it read), so two jobs spending
// at once cannot both take the last unit: one update wins, the other reads
// again and finds none. A record that is missing or cannot be read or
// parsed closes nothing: a job that cannot tell what it may spend does not
// spend.
package closebudget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// Key is the record's data key.
const Key = "closes"

// Window is how far back closes count.
const Window = 24 * time.Hour

// Close is one close spent from the budget.
type Close struct {
	At    time.Time `json:"at"`
	Lease string    `json:"lease"`
	Job   string    `json:"job"`
}

// Budget spends closes from the record ConfigMap Namespace/Name, at most
// PerDay in any 24 hours.
type Budget struct {
	Client          kubernetes.Interface
	Namespace, Name string
	PerDay          int
	// Job names the spender in the record.
	Job string
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	reg             prometheus.Registerer
	remaining, held prometheus.Gauge
}

// ErrRecord marks a record that is missing or cannot be read, parsed or
// written: nothing is closed.
var ErrRecord = errors.New("close budget record")

func (b *Budget) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Budget) ref() string { return b.Namespace + "/" + b.Name }

// Register has the budget report to reg, once it is first spent from
// (a run that closes nothing, or a dry run, reports nothing): closes left
// in the window after the run, and closes the run held because none were
// left.
func (b *Budget) Register(reg prometheus.Registerer) { b.reg = reg }

func (b *Budget) gauges() bool {
	if b.remaining == nil && b.reg != nil {
		b.remaining = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_close_budget_remaining",
			Help: "Lease closes left in the rolling 24-hour budget (--max-closes-per-day) after the run."})
		b.held = prometheus.NewGauge(prometheus.GaugeOpts{Name: "akash_janitor_close_budget_held",
			Help: "Lease closes the run held because the rolling 24-hour budget was used up."})
		b.reg.MustRegister(b.remaining, b.held)
	}
	return b.remaining != nil
}

// Grant is what Spend gave.
type Grant struct {
	// Granted leases may be closed: the first of those asked, in order.
	Granted []string
	// Used is how many closes the window held before this spend; Left,
	// how many are left after it.
	Used, Left int
}

// Held says why a lease beyond the grant is not closed.
func (b *Budget) Held(g Grant) string {
	return fmt.Sprintf("the daily close budget is used up: %d of %d closes in the last 24 hours (--max-closes-per-day, record ConfigMap %s)", g.Used+len(g.Granted), b.PerDay, b.ref())
}

// conflictRetry paces the reads again after another spender wrote first.
var conflictRetry = wait.Backoff{Steps: 20, Duration: 10 * time.Millisecond, Factor: 1, Jitter: 0.5}

// Spend takes one close for each lease, in order, while the window has
// room, and records them. An error (wrapping ErrRecord) grants nothing.
func (b *Budget) Spend(ctx context.Context, leases []string) (Grant, error) {
	var g Grant
	err := b.update(ctx, "so no lease is closed", func(closes []Close) []Close {
		g = Grant{Used: len(closes)}
		n := min(len(leases), max(b.PerDay-len(closes), 0))
		g.Granted = leases[:n]
		g.Left = max(b.PerDay-len(closes)-n, 0)
		if n == 0 {
			return nil
		}
		now := b.now().UTC()
		for _, l := range g.Granted {
			closes = append(closes, Close{At: now, Lease: l, Job: b.Job})
		}
		return closes
	})
	if err != nil {
		return Grant{}, err
	}
	b.report(g, len(leases)-len(g.Granted))
	return g, nil
}

// Refund gives back the closes of leases that were granted and not closed
// (the transaction failed), so they do not count. A refund that cannot be
// written leaves them counted: the budget errs on the side of fewer closes.
func (b *Budget) Refund(ctx context.Context, leases []string) error {
	if len(leases) == 0 {
		return nil
	}
	left := 0
	err := b.update(ctx, "so the refund is lost", func(closes []Close) []Close {
		for _, l := range leases {
			if i := slices.IndexFunc(closes, func(c Close) bool { return c.Lease == l && c.Job == b.Job }); i >= 0 {
				closes = slices.Delete(closes, i, i+1)
			}
		}
		left = max(b.PerDay-len(closes), 0)
		return closes
	})
	if err != nil {
		return err
	}
	if b.gauges() {
		b.remaining.Set(float64(left))
	}
	return nil
}

// update reads the record, lets change make the window's new closes (nil:
// nothing to write), and writes them with the resourceVersion it read;
// when another spender wrote first (409 Conflict) it reads again. A write
// that fails says so, then what that means.
func (b *Budget) update(ctx context.Context, consequence string, change func([]Close) []Close) error {
	err := retry.RetryOnConflict(conflictRetry, func() error {
		cm, closes, err := b.read(ctx)
		if err != nil {
			return err
		}
		next := change(closes)
		if next == nil {
			return nil
		}
		return b.write(ctx, cm, next)
	})
	if err != nil && !errors.Is(err, ErrRecord) {
		return fmt.Errorf("%w %s: cannot be written, %s: %v", ErrRecord, b.ref(), consequence, err)
	}
	return err
}

func (b *Budget) report(g Grant, held int) {
	if !b.gauges() {
		return
	}
	b.remaining.Set(float64(g.Left))
	b.held.Add(float64(held))
}

// read returns the record and its closes within the window.
func (b *Budget) read(ctx context.Context) (*corev1.ConfigMap, []Close, error) {
	cm, err := b.Client.CoreV1().ConfigMaps(b.Namespace).Get(ctx, b.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("%w %s is missing, so no lease is closed (helm upgrade makes it again; or kubectl -n %s create configmap %s)", ErrRecord, b.ref(), b.Namespace, b.Name)
	case err != nil:
		return nil, nil, fmt.Errorf("%w %s cannot be read, so no lease is closed: %v", ErrRecord, b.ref(), err)
	}
	raw := strings.TrimSpace(cm.Data[Key])
	var closes []Close
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &closes); err != nil {
			return nil, nil, fmt.Errorf("%w %s: key %q is not a JSON list of closes (%v), so no lease is closed; delete the key to start the count again", ErrRecord, b.ref(), Key, err)
		}
	}
	since := b.now().Add(-Window)
	kept := closes[:0]
	for i, c := range closes {
		if c.At.IsZero() || c.Lease == "" {
			return nil, nil, fmt.Errorf("%w %s: close %d of key %q has no time or lease, so no lease is closed; delete the key to start the count again", ErrRecord, b.ref(), i, Key)
		}
		if c.At.After(since) {
			kept = append(kept, c)
		}
	}
	return cm, kept, nil
}

func (b *Budget) write(ctx context.Context, cm *corev1.ConfigMap, closes []Close) error {
	if closes == nil {
		closes = []Close{}
	}
	raw, err := json.Marshal(closes)
	if err != nil {
		return err
	}
	// cm carries the resourceVersion it was read at: the API server
	// refuses the update (409 Conflict) if anyone wrote since.
	return kube.WriteKey(ctx, b.Client, cm, Key, string(raw), "akash-janitor/"+b.Job)
}
