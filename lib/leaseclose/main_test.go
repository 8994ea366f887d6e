package leaseclose

import (
	"testing"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

// The exec closer's tests share one simulated provider cluster.
func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "node-1", CPU: "4", Memory: "8Gi"}))
}
