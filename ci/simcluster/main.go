// simcluster runs the simulated provider cluster on its own, for people and
// scripts: `make sim-up` starts it in the background and writes its admin
// kubeconfig to .sim/kubeconfig; `make sim-down` stops it and removes .sim.
//
//	simcluster run   --dir .sim   in the foreground until interrupted
//	simcluster start --dir .sim   in the background; returns when ready
//	simcluster stop  --dir .sim
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "simcluster: %v\n", err)
		os.Exit(1)
	}
}

// Nodes of the simulated provider: two CPU nodes and one GPU node labelled
// the way Akash's inventory operator labels them.
func nodes() []kubetest.Node {
	return []kubetest.Node{
		{Name: "worker-1", CPU: "8", Memory: "32Gi"},
		{Name: "worker-2", CPU: "8", Memory: "32Gi"},
		{Name: "gpu-1", CPU: "16", Memory: "64Gi", GPU: 2, Labels: map[string]string{
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100":               "2",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100.ram.80Gi":      "2",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100.interface.sxm": "2",
		}},
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: simcluster run|start|stop --dir DIR")
	}
	fs := flag.NewFlagSet("simcluster "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".sim", "directory for the kubeconfig, pid and log")
	if code, ok := job.ParseFlags("simcluster "+args[0], "run, start or stop the simulated provider cluster", fs, args[1:], os.LookupEnv, os.Stdout, os.Stderr); !ok {
		os.Exit(code)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return foreground(abs)
	case "start":
		return background(abs)
	case "stop":
		return stop(abs)
	}
	return fmt.Errorf("unknown command %q: want run, start or stop", args[0])
}

func foreground(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	c, err := kubetest.Start(ctx, akashtest.ClusterOptions(nodes()...))
	if err != nil {
		return err
	}
	defer func() {
		_ = c.Stop()
		_ = os.Remove(filepath.Join(dir, "kubeconfig"))
		_ = os.Remove(filepath.Join(dir, "pid"))
	}()
	raw, err := os.ReadFile(c.KubeconfigPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	// The kubeconfig is written last: its presence means "ready".
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), raw, 0o600); err != nil {
		return err
	}
	fmt.Printf("simulated provider cluster ready in %s: export KUBECONFIG=%s\n",
		time.Since(start).Round(time.Millisecond), filepath.Join(dir, "kubeconfig"))
	<-ctx.Done()
	fmt.Println("stopping the simulated cluster")
	return nil
}

func background(dir string) error {
	if pid, ok := running(dir); ok {
		return fmt.Errorf("a simulated cluster is already running (pid %d); `make sim-down` first", pid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "kubeconfig"))
	logPath := filepath.Join(dir, "simcluster.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "run", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(5 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err == nil {
			fmt.Printf("simulated provider cluster running (pid %d)\n  export KUBECONFIG=%s\n  kubectl get nodes\n  make sim-down   # to stop it\n",
				cmd.Process.Pid, filepath.Join(dir, "kubeconfig"))
			return nil
		}
		select {
		case err := <-exited:
			raw, _ := os.ReadFile(logPath)
			return fmt.Errorf("the simulated cluster exited during start (%v):\n%s", err, raw)
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("the simulated cluster was not ready after 5 minutes; see %s", logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func running(dir string) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, false
	}
	return pid, true
}

func stop(dir string) error {
	pid, ok := running(dir)
	if !ok {
		fmt.Println("no simulated cluster is running")
		return os.RemoveAll(dir)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	for i := 0; i < 600; i++ {
		if syscall.Kill(pid, 0) != nil {
			fmt.Println("simulated cluster stopped")
			return os.RemoveAll(dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("pid %d did not stop within a minute", pid)
}
