package kubetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	sharedOnce    sync.Once
	sharedCluster *Cluster
	sharedErr     error
	sharedOpts    *Options
)

// Main runs a test package whose tests share one cluster: call it from
// TestMain. The cluster starts on the first Shared call (pure unit tests of the
// package never pay for it) and stops when the tests end.
func Main(m *testing.M, opts Options) {
	sharedOpts = &opts
	code := m.Run()
	if sharedCluster != nil {
		if err := sharedCluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop simulated cluster: %v\n", err)
		}
	}
	os.Exit(code)
}

// Shared returns the package's cluster, starting it on first use. A cluster
// that cannot start fails the test: a missing component is never a skip.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if sharedOpts == nil {
		t.Fatal("kubetest.Shared needs kubetest.Main in the package's TestMain")
	}
	if testing.Short() {
		// go test -short (make unit) runs the pure tests alone; make test
		// and CI never pass -short, so there this test runs.
		t.Skip("end to end: needs the simulated cluster; run without -short (make test)")
	}
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		sharedCluster, sharedErr = Start(ctx, *sharedOpts)
		if sharedErr == nil {
			fmt.Fprintf(os.Stderr, "simulated cluster ready in %s\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if sharedErr != nil {
		t.Fatalf("simulated cluster: %v", sharedErr)
	}
	return sharedCluster
}
