package cooldown_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/cooldown"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m, kubetest.Options{}) }

const ns = "default"

func record(t *testing.T, c *kubetest.Cluster, name string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	_ = c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
	_, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func newRecord(t *testing.T, c *kubetest.Cluster, name string, now *time.Time) *cooldown.Record {
	k, err := kubernetes.NewForConfig(c.Config) // a process of its own
	require.NoError(t, err)
	return &cooldown.Record{Client: k, Namespace: ns, Name: name, Period: time.Hour, Flag: "--restart-cooldown", Job: "dangling-deployments",
		Now: func() time.Time { return *now }}
}

// Taken once, held for the period with when it may be next, taken again
// after it; kept in the ConfigMap, so a later run of another process
// sees it.
func TestTakenOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	c := kubetest.Shared(t)
	record(t, c, "restart-once", nil)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	r := newRecord(t, c, "restart-once", &now)

	last, err := r.Last(ctx)
	require.NoError(t, err)
	assert.Nil(t, last, "never taken")
	held, err := r.Take(ctx, "restart akash-services/akash-provider-0")
	require.NoError(t, err)
	assert.Empty(t, held)

	now = now.Add(20 * time.Minute)
	again := newRecord(t, c, "restart-once", &now)
	held, err = again.Take(ctx, "restart akash-services/akash-provider-0")
	require.NoError(t, err)
	assert.Equal(t, "last done 20m0s ago (2026-12-04T10:00:00Z, by dangling-deployments), at most once per --restart-cooldown=1h0m0s: the next may be at 2026-12-04T11:00:00Z", held)
	last, err = again.Last(ctx)
	require.NoError(t, err)
	assert.Equal(t, "restart akash-services/akash-provider-0", last.What)
	assert.Equal(t, held, again.Held(last, now))

	now = now.Add(40 * time.Minute)
	held, err = again.Take(ctx, "restart")
	require.NoError(t, err)
	assert.Empty(t, held, "the hour has passed")

	// Notes kept beside it, by any process.
	require.NoError(t, r.Note(ctx, "gap", `{"stale":2}`))
	last, notes, err := again.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"gap": `{"stale":2}`}, notes)
	assert.Equal(t, "restart", last.What, "a note leaves the last take as it is")
	require.NoError(t, again.Note(ctx, "gap", ""))
	_, notes, err = r.Read(ctx)
	require.NoError(t, err)
	assert.Empty(t, notes, "an empty note is removed")
	assert.ErrorContains(t, r.Note(ctx, cooldown.Key, "x"), "the record's own key")
}

// Runs racing for it: exactly one takes it.
func TestOneOfManyTakesIt(t *testing.T) {
	ctx := context.Background()
	c := kubetest.Shared(t)
	record(t, c, "restart-race", nil)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	took, heldN := 0, 0
	for i := 0; i < 6; i++ {
		r := newRecord(t, c, "restart-race", &now)
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, err := r.Take(ctx, "restart")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("take: %v", err)
			case held == "":
				took++
			default:
				heldN++
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, took)
	assert.Equal(t, 5, heldN)
}

// A record missing or corrupt takes nothing, and says how to mend it.
func TestBadRecordTakesNothing(t *testing.T) {
	ctx := context.Background()
	c := kubetest.Shared(t)
	now := time.Now()
	_, err := newRecord(t, c, "restart-missing", &now).Take(ctx, "restart")
	assert.ErrorIs(t, err, cooldown.ErrRecord)
	assert.ErrorContains(t, err, "default/restart-missing is missing, so nothing is done (helm upgrade makes it again")

	record(t, c, "restart-corrupt", map[string]string{cooldown.Key: "yesterday"})
	_, err = newRecord(t, c, "restart-corrupt", &now).Take(ctx, "restart")
	assert.ErrorIs(t, err, cooldown.ErrRecord)
	assert.ErrorContains(t, err, `key "last" is not a record of the last time`)
	record(t, c, "restart-notime", map[string]string{cooldown.Key: `{"what":"restart"}`})
	_, err = newRecord(t, c, "restart-notime", &now).Take(ctx, "restart")
	assert.ErrorContains(t, err, "it has no time")
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "restart-corrupt", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "yesterday", cm.Data[cooldown.Key], "left as it was")
}
