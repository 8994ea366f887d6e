// demo runs akash-janitor on a simulated provider cluster and tells, in plain
// words, what the provider looked like, what each job did, and the result.
// `make demo` builds the binaries and runs it; nothing outside the
// simulated cluster is touched, and the cluster is gone when it ends.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func main() {
	bin := flag.String("bin", "bin", "directory of the built job binaries")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	ctx     context.Context
	cluster *kubetest.Cluster
	builder *akashtest.Builder
	bin     string
	leases  []akash.LeaseID
}

func run(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}

	say("Starting a simulated provider cluster: etcd, kube-apiserver, kube-controller-manager and\n" +
		"kube-scheduler (real, v1.34), with kwok playing the kubelet of six nodes.")
	start := time.Now()
	c, err := kubetest.Start(ctx, akashtest.ClusterOptions(
		kubetest.Node{Name: "worker-1", CPU: "8", Memory: "32Gi"},
		kubetest.Node{Name: "worker-2", CPU: "8", Memory: "32Gi"},
		kubetest.Node{Name: "small-1", CPU: "2", Memory: "8Gi", Labels: map[string]string{"demo/pool": "small"}},
		kubetest.Node{Name: "gpu-1", CPU: "32", Memory: "128Gi", GPU: 4, Labels: map[string]string{
			"demo/pool": "gpu",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100":          "2",
			"akash.network/capabilities.gpu.vendor.nvidia.model.a100.ram.80Gi": "2",
			"akash.network/capabilities.gpu.vendor.nvidia.model.rtx4090":       "2",
		}},
		kubetest.Node{Name: "small-2", CPU: "2", Memory: "8Gi", Labels: map[string]string{"demo/pool": "small-2"}},
		// Its driver broke: labelled with GPUs, none allocatable.
		kubetest.Node{Name: "gpu-2", CPU: "32", Memory: "128Gi", Labels: map[string]string{
			"akash.network/capabilities.gpu.vendor.nvidia.model.t4": "2",
		}},
	))
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the simulated cluster.")
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop: %v\n", err)
		}
	}()
	fmt.Printf("   ready in %s\n", time.Since(start).Round(100*time.Millisecond))

	d := &demo{ctx: ctx, cluster: c, builder: akashtest.NewBuilder(c), bin: bin}
	if err := d.seed(); err != nil {
		return err
	}
	if err := d.forceReplicaSets(); err != nil {
		return err
	}
	if err := d.zombies(); err != nil {
		return err
	}
	if err := d.bidPrice(); err != nil {
		return err
	}
	if err := d.restoreCommand(); err != nil {
		return err
	}
	say("provider-doctor: the runbook's GPU checks over the API. gpu-1 has 4 GPUs but no device plugin pod;\n" +
		"gpu-2 is labelled with two T4s that are not allocatable (as when the driver breaks):")
	if err := d.runJob("provider-doctor"); err != nil {
		return err
	}
	if err := d.certExpiry(); err != nil {
		return err
	}
	if err := d.killByImage(); err != nil {
		return err
	}
	if err := d.dangling(); err != nil {
		return err
	}
	if err := d.staleBids(); err != nil {
		return err
	}
	if err := d.providerChecks(); err != nil {
		return err
	}
	if err := d.kubectlJanitor(); err != nil {
		return err
	}
	say("Done. Every job is a binary in bin/ that runs the same way against a real provider:\n" +
		"   bin/force-replicasets --kubeconfig ~/.kube/config --dry-run\n" +
		"   bin/zombie-reaper --kubeconfig ~/.kube/config --node-name $(hostname) --once --dry-run   (as root, on a node)\n" +
		"   bin/bid-price < order.json   (with your PRICE_TARGET_* variables, as the provider runs its script)\n" +
		"and bin/kubectl-janitor, on your PATH, is kubectl janitor: kubectl janitor status -n akash-services")
	return nil
}

func (d *demo) seed() error {
	say("Seeding a small provider the way akash-provider deploys leases (namespace, Manifest, workloads):")
	// The provider itself: the jobs that rely on it act only while its
	// pod is Ready.
	if err := d.builder.ProviderPod(d.ctx); err != nil {
		return err
	}
	small := map[string]string{"demo/pool": "small"}
	leases := []akashtest.Lease{
		{ID: akashtest.LeaseID(1), Services: []akashtest.Service{
			{Name: "web", Image: "nginx:1.27", CPU: "500m", Memory: "512Mi", Count: 2, Port: 80},
		}},
		{ID: akashtest.LeaseID(2), Services: []akashtest.Service{
			{Name: "api", Image: "ghcr.io/tenant/api:1.4", CPU: "1", Memory: "1Gi", Count: 1, Port: 8080},
			{Name: "db", Image: "postgres:16", CPU: "1", Memory: "2Gi", Count: 1, Persistent: true},
		}},
		// An older provider's Deployment (surge before stop), on a 2-CPU node.
		{ID: akashtest.LeaseID(3), Strategy: akashtest.SurgeStrategy(), Services: []akashtest.Service{
			{Name: "llm", Image: "ollama/ollama:0.5", CPU: "1500m", Memory: "4Gi", Count: 1, NodeSelector: small},
		}},
	}
	for _, l := range leases {
		if err := d.builder.Create(d.ctx, l); err != nil {
			return err
		}
		d.leases = append(d.leases, l.ID)
	}
	if err := d.waitFor(2*time.Minute, "every lease running", func() (bool, error) {
		return d.allRolledOut()
	}); err != nil {
		return err
	}
	d.describe()

	say("The tenant of lease 3 updates its image (ollama 0.5 -> 0.6). The new pod needs 1.5 CPU on a\n" +
		"2-CPU node where the old pod still holds 1.5: Kubernetes will not stop the old pod before the\n" +
		"new one runs, so the update is stuck.")
	if err := d.builder.SetImage(d.ctx, d.leases[2], "llm", "ollama/ollama:0.6"); err != nil {
		return err
	}
	if err := d.waitFor(time.Minute, "the update to get stuck", func() (bool, error) {
		msg, err := d.unschedulable(d.leases[2].Namespace())
		return msg != "", err
	}); err != nil {
		return err
	}
	d.describe()
	return nil
}

func (d *demo) forceReplicaSets() error {
	// --min-stuck=0s because the update got stuck seconds ago; the default
	// (5m) leaves a rollout that is merely slow alone.
	say("force-replicasets, dry run (logs what it would do, changes nothing):")
	if err := d.runJob("force-replicasets", "--dry-run", "--min-stuck=0s"); err != nil {
		return err
	}
	// The pause switch, as an operator uses it before maintenance.
	say("Paused for maintenance with one command, the job plans and holds every action:")
	pause := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-pause", Namespace: "akash-services"},
		Data: map[string]string{job.PauseReason: "node maintenance until 14:00"}}
	fmt.Printf("   $ kubectl -n akash-services create configmap akash-janitor-pause --from-literal=reason=%q\n", pause.Data[job.PauseReason])
	if _, err := d.cluster.Kube.CoreV1().ConfigMaps(pause.Namespace).Create(d.ctx, pause, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := d.runJob("force-replicasets", "--min-stuck=0s", "--pause-namespace=akash-services"); err != nil {
		return err
	}
	fmt.Println("   $ kubectl -n akash-services delete configmap akash-janitor-pause")
	if err := d.cluster.Kube.CoreV1().ConfigMaps(pause.Namespace).Delete(d.ctx, pause.Name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := d.blockers(); err != nil {
		return err
	}
	say("force-replicasets, for real:")
	if err := d.runJob("force-replicasets", "--min-stuck=0s", "--pause-namespace=akash-services"); err != nil {
		return err
	}
	if err := d.waitFor(time.Minute, "the update to finish", func() (bool, error) {
		return d.allRolledOut()
	}); err != nil {
		return err
	}
	say("After:")
	d.describe()
	d.events()
	return nil
}

// runJob runs a job binary against the cluster and retells its log.
func (d *demo) runJob(name string, args ...string) error {
	cmd := exec.CommandContext(d.ctx, filepath.Join(d.bin, name), append([]string{"--kubeconfig", d.cluster.KubeconfigPath}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	fmt.Printf("   $ %s %s\n", name, strings.Join(args, " "))
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			fmt.Printf("     %s\n", sc.Text())
			continue
		}
		switch {
		case l["action"] != nil:
			fmt.Printf("     [%s] %s %s\n", l["outcome"], l["action"], l["object"])
			if l["lease"] != nil {
				fmt.Printf("       lease %s\n", l["lease"])
			}
			if l["tx_hash"] != nil && l["tx_hash"] != "" {
				fmt.Printf("       tx %s (%s)\n", l["tx_hash"], l["backend"])
			}
			fmt.Printf("       why: %s\n", l["message"])
			if l["outcome"] == "skipped" && l["detail"] != nil {
				fmt.Printf("       held: %s\n", l["detail"])
			}
		case l["orders_opened"] != nil:
			fmt.Printf("     %s (%v orders open on chain, %v active leases)\n", l["message"], l["orders_open"], l["active_leases"])
		case l["message"] == "certificate valid":
			fmt.Printf("     [valid] %s %s, %v days left\n", l["file"], l["subject"], l["days_left"])
		case l["finding"] != nil:
			fmt.Printf("     [finding] %s %s\n       %s\n", l["finding"], l["object"], l["message"])
		case l["message"] == "signal sent":
			fmt.Printf("     %s: sent %s\n", l["subject"], l["signal"])
		case l["message"] == "escalation finished":
			fmt.Printf("     %s: %s after %v, %v zombies gone\n", l["subject"], l["result"], l["signals"], l["reaped"])
		case l["message"] == "run summary":
			if l["findings"] != nil {
				fmt.Printf("     summary: %v findings, nothing changed (%v API requests)\n", l["findings"], l["api_requests"])
				break
			}
			if l["dry_run"] == true {
				fmt.Printf("     summary: %v actions: %v planned (dry-run: nothing changed), %v skipped (%v API requests)\n",
					l["actions"], l["planned"], l["skipped"], l["api_requests"])
			} else {
				fmt.Printf("     summary: %v actions: %v done, %v skipped, %v failed (%v API requests)\n",
					l["actions"], l["done"], l["skipped"], l["failed"], l["api_requests"])
			}
			if l["error"] != nil {
				fmt.Printf("     error: %v\n", l["error"])
			}
		}
	}
	if runErr != nil {
		return fmt.Errorf("%s: %w\n%s", name, runErr, out.String())
	}
	return nil
}

// describe tells the state of every lease.
func (d *demo) describe() {
	for i, id := range d.leases {
		ns := id.Namespace()
		fmt.Printf("   lease %d  %s\n            namespace %s\n", i+1, id, ns)
		deps, _ := d.cluster.Kube.AppsV1().Deployments(ns).List(d.ctx, metav1.ListOptions{})
		sets, _ := d.cluster.Kube.AppsV1().ReplicaSets(ns).List(d.ctx, metav1.ListOptions{})
		for _, dep := range deps.Items {
			fmt.Printf("            deployment %-4s %-24s ready %d/%d, %d ReplicaSet(s) holding pods%s\n",
				dep.Name, dep.Spec.Template.Spec.Containers[0].Image, dep.Status.ReadyReplicas, *dep.Spec.Replicas,
				holding(sets.Items, dep.Name), rolloutState(&dep))
		}
		sts, _ := d.cluster.Kube.AppsV1().StatefulSets(ns).List(d.ctx, metav1.ListOptions{})
		for _, s := range sts.Items {
			fmt.Printf("            statefulset %-3s %-24s ready %d/%d\n", s.Name, s.Spec.Template.Spec.Containers[0].Image, s.Status.ReadyReplicas, *s.Spec.Replicas)
		}
		if msg, _ := d.unschedulable(ns); msg != "" {
			fmt.Printf("            STUCK: new pod unschedulable: %s\n", msg)
		}
	}
}

func holding(sets []appsv1.ReplicaSet, deployment string) int {
	n := 0
	for _, rs := range sets {
		for _, o := range rs.OwnerReferences {
			if o.Name == deployment && rs.Status.Replicas > 0 {
				n++
			}
		}
	}
	return n
}

func rolloutState(d *appsv1.Deployment) string {
	if !akashtest.RolledOut(d) {
		return " (update in progress)"
	}
	return ""
}

func (d *demo) events() {
	say("What an operator reads with `kubectl get events -A --field-selector reportingComponent=akash-janitor.akash.network/force-replicasets`:")
	var lines []string
	for _, id := range d.leases {
		evs, err := d.cluster.Kube.EventsV1().Events(id.Namespace()).List(d.ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, e := range evs.Items {
			if strings.HasPrefix(e.ReportingController, "akash-janitor") {
				lines = append(lines, fmt.Sprintf("   %s  %s/%s  %s  %s: %s", e.Type, strings.ToLower(e.Regarding.Kind), e.Regarding.Name, e.Reason, e.Action, e.Note))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

func (d *demo) unschedulable(ns string) (string, error) {
	msgs, err := akashtest.Unschedulable(d.ctx, d.cluster.Kube, ns)
	if err != nil || len(msgs) == 0 {
		return "", err
	}
	return msgs[0], nil
}

func (d *demo) allRolledOut() (bool, error) {
	for _, id := range d.leases {
		deps, err := d.cluster.Kube.AppsV1().Deployments(id.Namespace()).List(d.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, dep := range deps.Items {
			if !akashtest.RolledOut(&dep) {
				return false, nil
			}
		}
		sts, err := d.cluster.Kube.AppsV1().StatefulSets(id.Namespace()).List(d.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range sts.Items {
			if s.Status.ReadyReplicas != *s.Spec.Replicas {
				return false, nil
			}
		}
	}
	return true, nil
}

func (d *demo) waitFor(limit time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for " + what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func say(s string) { fmt.Printf("\n== %s\n", s) }

// blockers shows the two blockers holding force-replicasets: the provider
// pod not Ready, then a Prometheus alert firing.
func (d *demo) blockers() error {
	say("While the provider pod is not Ready (a restart, a failing probe), the jobs that rely on it hold:")
	provider := akashtest.ProviderNamespace + "/" + akashtest.ProviderPod
	if err := d.builder.SetReady(d.ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, false); err != nil {
		return err
	}
	if err := d.runJob("force-replicasets", "--min-stuck=0s", "--require-ready-pod="+provider); err != nil {
		return err
	}
	if err := d.builder.SetReady(d.ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, true); err != nil {
		return err
	}
	say("And while a Prometheus alert the operator names fires (global.blockers.prometheus.alerts):")
	prom, err := d.cluster.StartPrometheus(d.ctx, "prometheus-demo", `groups:
- name: storage
  rules:
  - alert: CephHealthError
    expr: vector(1)
    labels: {severity: critical}
`)
	if err != nil {
		return err
	}
	defer prom.Stop()
	if err := prom.WaitFiring(d.ctx, 1); err != nil {
		return err
	}
	return d.runJob("force-replicasets", "--min-stuck=0s", "--prometheus-url="+prom.URL, `--blocking-alerts=severity="critical"`)
}
