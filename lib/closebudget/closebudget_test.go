package closebudget_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.Options{}) }

const ns = "default"

// record makes the record ConfigMap afresh, as the chart does (no data),
// with closes already spent.
func record(t *testing.T, c *kubetest.Cluster, name string, closes ...closebudget.Close) {
	t.Helper()
	ctx := context.Background()
	_ = c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if len(closes) > 0 {
		raw, err := json.Marshal(closes)
		require.NoError(t, err)
		cm.Data = map[string]string{closebudget.Key: string(raw)}
	}
	_, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	require.NoError(t, err)
}

func stored(t *testing.T, c *kubetest.Cluster, name string) []closebudget.Close {
	t.Helper()
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	var closes []closebudget.Close
	if raw := cm.Data[closebudget.Key]; raw != "" {
		require.NoError(t, json.Unmarshal([]byte(raw), &closes))
	}
	return closes
}

// client is a client of its own, as another job's process would have.
func client(t *testing.T, c *kubetest.Cluster) kubernetes.Interface {
	t.Helper()
	k, err := kubernetes.NewForConfig(c.Config)
	require.NoError(t, err)
	return k
}

// Two jobs, each with its own client, spend at once when one close is
// left: exactly one gets it, every time, and the record holds the budget.
func TestTwoJobsRaceForTheLastUnit(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	const name = "race"
	for round := 0; round < 15; round++ {
		var spent []closebudget.Close
		for i := 0; i < 4; i++ {
			spent = append(spent, closebudget.Close{At: time.Now().Add(-time.Hour), Lease: fmt.Sprintf("earlier/%d", i), Job: "close-lease"})
		}
		record(t, c, name, spent...)
		jobs := []*closebudget.Budget{
			{Client: client(t, c), Namespace: ns, Name: name, PerDay: 5, Job: "kill-lease-by-image"},
			{Client: client(t, c), Namespace: ns, Name: name, PerDay: 5, Job: "dangling-deployments"},
		}
		grants := make([]closebudget.Grant, len(jobs))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, b := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				g, err := b.Spend(ctx, []string{fmt.Sprintf("lease/%d/%d", round, i)})
				assert.NoError(t, err)
				grants[i] = g
			}()
		}
		close(start)
		wg.Wait()
		won := len(grants[0].Granted) + len(grants[1].Granted)
		require.Equal(t, 1, won, "round %d: one job gets the last close, never both: %+v", round, grants)
		require.Len(t, stored(t, c, name), 5, "round %d", round)
	}
}

// The window rolls: closes older than 24 hours no longer count, and are
// dropped from the record.
func TestWindowRollsOver(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	const name = "rolling"
	record(t, c, name)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	b := &closebudget.Budget{Client: c.Kube, Namespace: ns, Name: name, PerDay: 3, Job: "kill-lease-by-image", Now: func() time.Time { return now }}
	b.Register(reg)

	g, err := b.Spend(ctx, []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, g.Granted)
	assert.Equal(t, 1, g.Left)

	now = now.Add(23 * time.Hour)
	g, err = b.Spend(ctx, []string{"c", "d", "e"})
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, g.Granted, "one close left in the window")
	assert.Equal(t, 0, g.Left)
	assert.Equal(t, "the daily close budget is used up: 3 of 3 closes in the last 24 hours (--max-closes-per-day, record ConfigMap default/rolling)", b.Held(g))
	assert.Equal(t, 0.0, gauge(t, reg, "akash_janitor_close_budget_remaining"))
	assert.Equal(t, 2.0, gauge(t, reg, "akash_janitor_close_budget_held"), "d and e held")

	now = now.Add(30 * time.Minute)
	g, err = b.Spend(ctx, []string{"d"})
	require.NoError(t, err)
	assert.Empty(t, g.Granted, "a and b were closed 23.5 hours ago: still counted")

	now = now.Add(31 * time.Minute) // a and b are now 24h1m old
	g, err = b.Spend(ctx, []string{"d", "e", "f"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "e"}, g.Granted)
	var leases []string
	for _, cl := range stored(t, c, name) {
		leases = append(leases, cl.Lease)
	}
	assert.Equal(t, []string{"c", "d", "e"}, leases, "the closes out of the window are dropped")

	// A close that was not made is given back.
	require.NoError(t, b.Refund(ctx, []string{"e"}))
	g, err = b.Spend(ctx, []string{"f"})
	require.NoError(t, err)
	assert.Equal(t, []string{"f"}, g.Granted)
}

// gauge is the value of a gauge the registry gathers.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A record that is corrupt or gone closes nothing, says why, and is left
// as it is.
func TestCorruptOrDeletedRecordClosesNothing(t *testing.T) {
	c := kubetest.Shared(t)
	ctx := context.Background()
	const name = "broken"
	b := &closebudget.Budget{Client: c.Kube, Namespace: ns, Name: name, PerDay: 100, Job: "kill-lease-by-image"}

	for _, tt := range []struct{ data, want string }{
		{`{"closes": 3}`, `record default/broken: key "closes" is not a JSON list of closes`},
		{`[{"lease": "a"}]`, `record default/broken: close 0 of key "closes" has no time or lease, so no lease is closed`},
		{`not json`, `is not a JSON list of closes`},
	} {
		_ = c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
		_, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Data: map[string]string{closebudget.Key: tt.data}}, metav1.CreateOptions{})
		require.NoError(t, err)
		g, err := b.Spend(ctx, []string{"x"})
		require.ErrorIs(t, err, closebudget.ErrRecord)
		assert.ErrorContains(t, err, tt.want)
		assert.Empty(t, g.Granted)
		cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, tt.data, cm.Data[closebudget.Key], "a corrupt record is left for the operator to read")
	}

	require.NoError(t, c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}))
	g, err := b.Spend(ctx, []string{"x"})
	require.ErrorIs(t, err, closebudget.ErrRecord)
	assert.ErrorContains(t, err, "close budget record default/broken is missing, so no lease is closed")
	assert.Empty(t, g.Granted)
	_, err = c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a missing record is not made again behind the operator's back")
}
