package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// killByImage closes, on a simulated Akash chain, the leases that run a
// denied image.
func (d *demo) killByImage() error {
	key, armor, err := chaintx.GenerateKey("demo-passphrase")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "akash-janitor-demo-keys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(armor), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "key-pass.txt"), []byte("demo-passphrase"), 0o600); err != nil {
		return err
	}
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	srv := httptest.NewServer(ch)
	defer srv.Close()

	say("kill-lease-by-image, against a simulated Akash node (REST, signatures and sequences checked as a\n" +
		"node does). Provider " + key.Address + " runs three more leases:")
	images := map[int][]string{7: {"packetstream/psclient:latest"}, 8: {"nginx:1.27", "docker.io/packetstream/psclient"}, 9: {"packetstream/psclient-x"}}
	var ids []akash.LeaseID
	for _, n := range []int{7, 8, 9} {
		id := akash.LeaseID{Owner: akashtest.LeaseID(n).Owner, DSeq: uint64(9_000_000 + n), GSeq: 1, OSeq: 1, Provider: key.Address}
		var services []akashtest.Service
		for i, img := range images[n] {
			services = append(services, akashtest.Service{Name: fmt.Sprintf("svc%d", i), Image: img, CPU: "10m", Memory: "16Mi"})
		}
		if err := d.builder.Create(d.ctx, akashtest.Lease{ID: id, Services: services}); err != nil {
			return err
		}
		ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 100})
		ids = append(ids, id)
		fmt.Printf("   lease %s  images %v\n", id, images[n])
	}
	args := []string{"--chain-rest", srv.URL, "--chain-id", chaintest.ChainID, "--key-file", filepath.Join(dir, "key.txt"),
		"--key-pass-file", filepath.Join(dir, "key-pass.txt"), "--deny", "packetstream/psclient"}
	say("kill-lease-by-image --deny packetstream/psclient, dry run, then for real:")
	if err := d.runJob("kill-lease-by-image", append(args, "--dry-run")...); err != nil {
		return err
	}
	// The daily close budget, as the chart sets it (provider.closeBudget),
	// at 1 to show it holding.
	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "akash-janitor-close-budget", Namespace: "akash-services"}}
	if _, err := d.cluster.Kube.CoreV1().ConfigMaps(record.Namespace).Create(d.ctx, record, metav1.CreateOptions{}); err != nil {
		return err
	}
	budget := []string{"--close-budget-configmap=akash-services/akash-janitor-close-budget", "--batch-size=1"}
	say("For real, with a daily close budget of 1 (provider.closeBudget): one lease closed, the other held\n" +
		"with the reason, however many runs follow within 24 hours:")
	if err := d.runJob("kill-lease-by-image", append(append(args, budget...), "--max-closes-per-day=1")...); err != nil {
		return err
	}
	cm, err := d.cluster.Kube.CoreV1().ConfigMaps(record.Namespace).Get(d.ctx, record.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	fmt.Println("   $ kubectl -n akash-services get configmap akash-janitor-close-budget -o jsonpath='{.data.closes}'")
	fmt.Printf("     %s\n", cm.Data["closes"])
	say("The operator reads what was closed and raises the budget to 2; the next run closes the other:")
	if err := d.runJob("kill-lease-by-image", append(append(args, budget...), "--max-closes-per-day=2")...); err != nil {
		return err
	}
	say("On chain after the runs:")
	for _, id := range ids {
		l, _ := ch.Get(id)
		fmt.Printf("   lease %s  %s %s\n", id, l.State, l.Reason)
	}
	for _, a := range ch.Applied() {
		fmt.Printf("   transaction %s: %d closes, fee %s, gas %d\n", a.Hash, len(a.Closed), a.Fee, a.Gas)
	}
	if err := d.killByImageExec(srv.URL, key.Address, filepath.Join(dir, "key.txt"), ch); err != nil {
		return err
	}
	return d.admissionPolicy(args, key.Address, ch)
}

// admissionPolicy shows the chart's ValidatingAdmissionPolicy refusing a
// denied image's pod before it starts, from the lists the job writes.
func (d *demo) admissionPolicy(args []string, provider string, ch *chaintest.Chain) error {
	p, err := charttest.RenderAdmissionPolicy(map[string]any{"denylist": []any{"packetstream/psclient"}, "dryRun": false})
	if err != nil {
		return err
	}
	if _, err := p.Apply(d.ctx, d.cluster.Config); err != nil {
		return err
	}
	kube := d.cluster.Kube
	policy, binding, params := p.Policy, p.Binding, p.Binding.Spec.ParamRef
	say(fmt.Sprintf("Denied images never start. With a denylist the chart also renders the ValidatingAdmissionPolicy %s\n"+
		"(validationActions %v, failurePolicy %s), enforced by the API server itself in tenant namespaces.\n"+
		"Each run, kill-lease-by-image writes its parameters, an ImageDenylist, from the same lists:", policy.Name, binding.Spec.ValidationActions, *policy.Spec.FailurePolicy))
	flags := append(args, "--admission-params=akash-services/"+params.Name)
	if err := d.runJob("kill-lease-by-image", append(flags, "--dry-run")...); err != nil {
		return err
	}
	data, err := admissionparams.Read(d.ctx, d.cluster.Dynamic(), params.Namespace, params.Name)
	if err != nil {
		return err
	}
	fmt.Printf("   $ kubectl -n akash-services get imagedenylist %s -o jsonpath='{.data.deny\\.0}'\n     %s\n", params.Name, data["deny.0"])

	denied := akash.LeaseID{Owner: akashtest.LeaseID(11).Owner, DSeq: 9_000_011, GSeq: 1, OSeq: 1, Provider: provider}
	fine := akash.LeaseID{Owner: akashtest.LeaseID(12).Owner, DSeq: 9_000_012, GSeq: 1, OSeq: 1, Provider: provider}
	// Policies and their parameters reach admission through informers:
	// wait until a tenant-labelled namespace refuses the denied image.
	probe := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo-admission-probe", Labels: map[string]string{akash.LabelLeaseDSeq: "0"}}}
	if _, err := kube.CoreV1().Namespaces().Create(d.ctx, probe, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer kube.CoreV1().Namespaces().Delete(d.ctx, probe.Name, metav1.DeleteOptions{}) //nolint:errcheck // a demo's leftover
	if err := charttest.WaitRefused(d.ctx, kube, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: probe.Name, Name: "probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "packetstream/psclient"}}}}, `entry "packetstream/psclient"`, time.Minute); err != nil {
		return err
	}
	for id, image := range map[akash.LeaseID]string{denied: "registry-1.docker.io/packetstream/psclient:3", fine: "nginx:1.27"} {
		if err := d.builder.Create(d.ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "web", Image: image, CPU: "10m", Memory: "16Mi"}}}); err != nil {
			return err
		}
		ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 100})
	}
	say("Two new leases: " + denied.String() + " runs registry-1.docker.io/packetstream/psclient:3,\n   " +
		fine.String() + " runs nginx:1.27. The first one's ReplicaSet cannot create its pod:")
	var failure string
	if err := d.waitFor(time.Minute, "the denied lease's ReplicaSet to fail", func() (bool, error) {
		list, err := kube.AppsV1().ReplicaSets(denied.Namespace()).List(d.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, rs := range list.Items {
			if failure = admissionparams.Refusal(&rs); failure != "" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	fmt.Printf("   $ kubectl -n %s describe rs\n     ReplicaFailure: %s\n", denied.Namespace(), failure)
	if err := d.waitFor(time.Minute, "the allowed lease's pod", func() (bool, error) {
		pods, err := kube.CoreV1().Pods(fine.Namespace()).List(d.ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 1, err
	}); err != nil {
		return err
	}
	fmt.Printf("   the other lease's pod was admitted: nginx:1.27 runs in %s\n", fine.Namespace())
	say("The next run closes the refused lease; its reason says the image was refused at admission too:")
	if err := d.runJob("kill-lease-by-image", flags...); err != nil {
		return err
	}
	for _, id := range []akash.LeaseID{denied, fine} {
		l, _ := ch.Get(id)
		fmt.Printf("   lease %s  %s %s\n", id, l.State, l.Reason)
	}
	return nil
}

// killByImageExec closes a lease the runbook's way, without its script: the
// CLI runs in the provider pod, through pods/exec, and the key stays there.
func (d *demo) killByImageExec(node, provider, keyFile string, ch *chaintest.Chain) error {
	dir, err := os.MkdirTemp("", "akash-janitor-demo-cli-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The official CLI cannot be built here: its stand-in (see
	// lib/chain/chaintest/akashcli) plays it in the provider pod.
	cli := filepath.Join(dir, "provider-services")
	if out, err := exec.Command("go", "build", "-o", cli, "./lib/chain/chaintest/akashcli").CombinedOutput(); err != nil {
		return fmt.Errorf("build the CLI stand-in: %v: %s", err, out)
	}
	env, err := chaintest.ProviderPodEnv(cli, node, keyFile, []byte("demo-passphrase"), filepath.Join(dir, "home"))
	if err != nil {
		return err
	}
	if err := d.builder.ProviderPod(d.ctx); err != nil {
		return err
	}
	if err := d.cluster.AllowExec(d.ctx, akashtest.ProviderNamespace, akashtest.ProviderPod, akashtest.ProviderContainer, "", env); err != nil {
		return err
	}
	id := akash.LeaseID{Owner: akashtest.LeaseID(10).Owner, DSeq: 9_000_010, GSeq: 1, OSeq: 1, Provider: provider}
	if err := d.builder.Create(d.ctx, akashtest.Lease{ID: id, Services: []akashtest.Service{{Name: "svc0", Image: "packetstream/psclient", CPU: "10m", Memory: "16Mi"}}}); err != nil {
		return err
	}
	ch.Put(chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 100})
	say("kill-lease-by-image --closer=exec: no key in the job; it runs provider-services in akash-services/akash-provider-0\n" +
		"through pods/exec (the chart's Role allows create on pods/exec of that one pod). A new lease runs the denied image:\n" +
		"   lease " + id.String())
	if err := d.runJob("kill-lease-by-image", "--chain-rest", node, "--provider", provider, "--deny", "packetstream/psclient",
		"--closer", "exec", "--cli", cli); err != nil {
		return err
	}
	l, _ := ch.Get(id)
	fmt.Printf("   lease %s  %s %s\n", id, l.State, l.Reason)
	return nil
}
