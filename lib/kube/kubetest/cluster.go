// Package kubetest runs a simulated Kubernetes cluster of real components for
// tests and the demo: etcd and kube-apiserver (started by controller-runtime's
// envtest), kube-controller-manager and kube-scheduler built from the
// Kubernetes module, and kwok playing the kubelet of fake nodes. Deployments
// roll out, the scheduler reports "Insufficient cpu", ReplicaSet deletions
// free room: the state the jobs read is produced by the real controllers.
//
// Every process it starts is stopped by Stop; if a test binary dies without
// calling it, the next Start sweeps what the dead one left (processes and
// directory), so nothing accumulates.
package kubetest

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// GPUResource is the extended resource fake GPU nodes offer.
const GPUResource = "nvidia.com/gpu"

// Node is a fake node kwok plays.
type Node struct {
	Name   string
	CPU    string // allocatable, e.g. "2"
	Memory string // allocatable, e.g. "8Gi"
	GPU    int64  // allocatable nvidia.com/gpu
	AMDGPU int64  // allocatable amd.com/gpu
	Pods   int64  // allocatable pods; 0 means 110
	// Storage is allocatable ephemeral-storage; empty means 500Gi.
	Storage string
	Labels  map[string]string
}

// Options configure a cluster.
type Options struct {
	// Tools is the directory holding etcd, kube-apiserver,
	// kube-controller-manager, kube-scheduler and kwok. Empty: ToolsDir().
	Tools string
	// Nodes are created and Ready before Start returns.
	Nodes []Node
	// Setup runs last, e.g. to create namespaces every test expects.
	Setup func(ctx context.Context, c *Cluster) error
}

// Cluster is a running simulated cluster.
type Cluster struct {
	// Dir holds the cluster's state, certificates, logs and kubeconfig; it
	// is removed by Stop.
	Dir string
	// KubeconfigPath is an admin kubeconfig for the cluster.
	KubeconfigPath string
	// Config is the admin REST config (high QPS, for fixtures).
	Config *rest.Config
	// Kube is an admin client.
	Kube kubernetes.Interface

	env   *envtest.Environment
	procs []*process
	tools string
}

// dirPrefix names cluster directories; the owner's PID follows, which is how
// a later Start knows a directory was abandoned.
const dirPrefix = "akash-janitor-sim-"

// Start starts a cluster. It returns once the API server answers, the CRDs
// are established, the controllers and scheduler are healthy, and every node
// is Ready.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	// envtest logs through controller-runtime's logger; unset, it prints a
	// stack trace that reads like a crash. Its lines say nothing a test
	// or the demo needs.
	ctrllog.SetLogger(logr.Discard())
	tools := opts.Tools
	if tools == "" {
		if tools, err = ToolsDir(); err != nil {
			return nil, err
		}
	}
	if err := checkTools(tools); err != nil {
		return nil, err
	}
	sweepAbandoned()

	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("simulated cluster directory: %w", err)
	}
	c = &Cluster{Dir: dir, tools: tools}
	defer func() {
		if err != nil {
			if logs := c.tailLogs(); logs != "" {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
			_ = c.Stop()
		}
	}()

	if err := c.startAPIServer(tools); err != nil {
		return c, err
	}
	if err := c.startControllersRetrying(ctx, tools); err != nil {
		return c, err
	}
	if err := c.AddNodes(ctx, opts.Nodes...); err != nil {
		return c, err
	}
	if opts.Setup != nil {
		if err := opts.Setup(ctx, c); err != nil {
			return c, fmt.Errorf("cluster setup: %w", err)
		}
	}
	return c, nil
}

func (c *Cluster) startAPIServer(tools string) error {
	apiLog, err := os.Create(filepath.Join(c.Dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	etcdLog, err := os.Create(filepath.Join(c.Dir, "etcd.log"))
	if err != nil {
		return err
	}
	apiserver := &envtest.APIServer{CertDir: filepath.Join(c.Dir, "apiserver"), Out: apiLog, Err: apiLog}
	// The nodes' kubelet is kwok's server on 127.0.0.1: reach it by address
	// (the Hostname address, the node's name, resolves nowhere).
	apiserver.Configure().Set("kubelet-preferred-address-types", "InternalIP")
	// envtest's /24 holds 254 Services; a provider-shaped lease has up to
	// four (ClusterIP, NodePort, a LoadBalancer per leased port).
	apiserver.Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	etcd := &envtest.Etcd{DataDir: filepath.Join(c.Dir, "etcd"), Out: etcdLog, Err: etcdLog}
	for _, d := range []string{apiserver.CertDir, etcd.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    tools,
		ControlPlane:             envtest.ControlPlane{APIServer: apiserver, Etcd: etcd},
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{kwokExecCRD()}},
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if _, err := c.env.Start(); err != nil {
		c.env = nil
		return fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	admin, err := c.env.AddUser(envtest.User{Name: "sim-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("create the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	c.KubeconfigPath = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "ca.crt"), c.env.Config.CAData, 0o600); err != nil {
		return err
	}
	c.Config = admin.Config()
	c.Config.QPS, c.Config.Burst = 500, 1000
	c.Kube, err = kubernetes.NewForConfig(c.Config)
	return err
}

// startControllersRetrying starts the controllers, again on new ports when
// one lost the port it was given: a port is free when chosen and taken only
// when the component binds it, and another test binary's cluster (go test
// runs packages side by side) can take it in between.
func (c *Cluster) startControllersRetrying(ctx context.Context, tools string) error {
	const attempts = 3
	for i := 1; ; i++ {
		first := len(c.procs)
		err := c.startControllers(ctx, tools)
		if err == nil || i == attempts || !c.lostPort(first) {
			return err
		}
		for _, p := range c.procs[first:] {
			_ = p.stop()
		}
		c.procs = c.procs[:first]
	}
}

// lostPort says whether a process started since c.procs[first] failed to
// bind its port.
func (c *Cluster) lostPort(first int) bool {
	for _, p := range c.procs[first:] {
		if b, err := os.ReadFile(p.log.Name()); err == nil && strings.Contains(string(b), "address already in use") {
			return true
		}
	}
	return false
}

func (c *Cluster) startControllers(ctx context.Context, tools string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2]
	kcm, err := c.spawn("kube-controller-manager", filepath.Join(tools, "kube-controller-manager"),
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir="+filepath.Join(c.Dir, "kube-controller-manager"),
		"--service-account-private-key-file="+filepath.Join(c.env.ControlPlane.APIServer.CertDir, "sa-signer.key"),
		"--root-ca-file="+filepath.Join(c.Dir, "ca.crt"),
		"--use-service-account-credentials=false",
		// kwok's heartbeats can lag under load on a small machine; without a
		// long grace the node lifecycle controller marks nodes NotReady and
		// every pod Ready=False for good.
		"--node-monitor-grace-period=1h",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
		"--concurrent-namespace-syncs=20", "--concurrent-gc-syncs=50",
	)
	if err != nil {
		return err
	}

	schedConfig := filepath.Join(c.Dir, "kube-scheduler.yaml")
	if err := os.WriteFile(schedConfig, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, c.KubeconfigPath)), 0o600); err != nil {
		return err
	}
	sched, err := c.spawn("kube-scheduler", filepath.Join(tools, "kube-scheduler"),
		"--config="+schedConfig,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir="+filepath.Join(c.Dir, "kube-scheduler"),
	)
	if err != nil {
		return err
	}

	stages := filepath.Join(c.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return err
	}
	kwokDir := filepath.Join(c.Dir, "kwok")
	if err := os.MkdirAll(kwokDir, 0o700); err != nil {
		return err
	}
	kwok, err := c.spawnEnv("kwok", filepath.Join(tools, "kwok"),
		// kwok always merges $KWOK_WORKDIR/kwok.yaml: keep a user's own out.
		[]string{"KWOK_WORKDIR=" + kwokDir},
		"--kubeconfig="+c.KubeconfigPath,
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=10.0.0.1/16",
		fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort),
		// kwok's server is the nodes' kubelet: pods/exec runs a local
		// command, as an Exec object says (see AllowExec).
		"--node-ip=127.0.0.1",
		fmt.Sprintf("--node-port=%d", kwokPort),
		"--enable-crds=Exec",
	)
	if err != nil {
		return err
	}

	waitCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := kcm.waitHealthy(waitCtx, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort)); err != nil {
		return err
	}
	if err := sched.waitHealthy(waitCtx, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort)); err != nil {
		return err
	}
	return kwok.waitHealthy(waitCtx, fmt.Sprintf("http://127.0.0.1:%d/healthz", kwokPort))
}

// AddNodes creates fake nodes and waits until kwok has made them Ready.
func (c *Cluster) AddNodes(ctx context.Context, nodes ...Node) error {
	for _, n := range nodes {
		if _, err := c.Kube.CoreV1().Nodes().Create(ctx, fakeNode(n), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	for _, n := range nodes {
		if err := c.waitNodeReady(ctx, n.Name); err != nil {
			return err
		}
	}
	return nil
}

func fakeNode(n Node) *corev1.Node {
	labels := map[string]string{
		"type":                   "kwok",
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	pods := n.Pods
	if pods == 0 {
		pods = 110
	}
	storage := n.Storage
	if storage == "" {
		storage = "500Gi"
	}
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(n.CPU),
		corev1.ResourceMemory:           resource.MustParse(n.Memory),
		corev1.ResourceEphemeralStorage: resource.MustParse(storage),
		corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
	}
	if n.GPU > 0 {
		alloc[GPUResource] = *resource.NewQuantity(n.GPU, resource.DecimalSI)
	}
	if n.AMDGPU > 0 {
		alloc["amd.com/gpu"] = *resource.NewQuantity(n.AMDGPU, resource.DecimalSI)
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.Name,
			Labels: labels,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc.DeepCopy()},
	}
}

func (c *Cluster) waitNodeReady(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s did not become Ready (is kwok running? see %s): %w", name, filepath.Join(c.Dir, "kwok.log"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dynamic returns an admin dynamic client, for custom resources.
func (c *Cluster) Dynamic() dynamic.Interface {
	return dynamic.NewForConfigOrDie(c.Config)
}

// Stop stops every process of the cluster and removes its directory.
func (c *Cluster) Stop() error {
	var errs []error
	// Reverse order: kwok and the controllers before the API server.
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	c.keepLogs()
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
		}
		c.env = nil
	}
	if c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LogsEnv names a directory where Stop copies the components' logs, to
// debug a failed test after the cluster is gone.
const LogsEnv = "AKASH_JANITOR_SIM_LOGS"

func (c *Cluster) keepLogs() {
	dest := os.Getenv(LogsEnv)
	if dest == "" || c.Dir == "" {
		return
	}
	dest = filepath.Join(dest, filepath.Base(c.Dir))
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "*.log"))
	for _, l := range logs {
		if raw, err := os.ReadFile(l); err == nil {
			_ = os.WriteFile(filepath.Join(dest, filepath.Base(l)), raw, 0o644)
		}
	}
}

// tailLogs returns the end of every component log, to explain a failed start.
func (c *Cluster) tailLogs() string {
	var b strings.Builder
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		raw, err := os.ReadFile(filepath.Join(c.Dir, name+".log"))
		if err != nil || len(raw) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- last lines of %s.log:\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}
