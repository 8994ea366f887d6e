package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
	"github.com/akash-janitor/akash-janitor/lib/admissionparams"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/janitorctl"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// kubectlJanitor installs the chart as an operator does and asks kubectl
// janitor about it: the plugin's own code (lib/janitorctl), run in process
// as the binary runs it.
func (d *demo) kubectlJanitor() error {
	const ns, release = "akash-services", "akash-janitor"
	say("kubectl janitor: the operator's questions in one command. First the chart, installed as an operator\n" +
		"installs it (helm install akash-janitor charts/akash-janitor -n akash-services, with the denylist\n" +
		"above). The scenes above made its close budget record and admission policy by hand, as a job run\n" +
		"alone needs them; the chart makes its own, and keeps the closes the jobs recorded:")
	if err := d.handOverToChart(ns, release); err != nil {
		return err
	}
	if err := d.janitor("status", "-n", ns); err != nil {
		return err
	}

	say("Maintenance: one command pauses every job that changes anything, with the reason, who and when:")
	if err := d.janitor("pause", "-n", ns, "--reason", "kernel upgrade on worker-1"); err != nil {
		return err
	}
	if err := d.runJob("force-replicasets", "--min-stuck=0s", "--pause-namespace="+ns); err != nil {
		return err
	}
	if err := d.janitor("resume", "-n", ns); err != nil {
		return err
	}

	say("A run now, dry, rather than waiting for the schedule (what kubectl create job --from=cronjob does):")
	if err := d.janitor("run", "dangling-deployments", "--dry-run", "-n", ns); err != nil {
		return err
	}

	say("What the janitor did, from the Events its jobs recorded in this demo:")
	return d.janitor("report", "--since", "1h")
}

// handOverToChart installs the chart in place of the stand-ins the scenes
// made (helm installs nothing it does not own), carrying the close records
// over, and writes the admission policy's lists as the chart's hook Job
// would (kwok runs no container).
func (d *demo) handOverToChart(ns, release string) error {
	kc := d.cluster.Kube
	budgetName := release + "-close-budget"
	var closes string
	if cm, err := kc.CoreV1().ConfigMaps(ns).Get(d.ctx, budgetName, metav1.GetOptions{}); err == nil {
		closes = cm.Data[closebudget.Key]
	}
	admission := kc.AdmissionregistrationV1()
	policy := release + "-denied-images"
	params := policy + "-params"
	for _, del := range []func() error{
		func() error { return kc.CoreV1().ConfigMaps(ns).Delete(d.ctx, budgetName, metav1.DeleteOptions{}) },
		func() error {
			return kc.CoreV1().ConfigMaps(ns).Delete(d.ctx, release+"-provider-restart", metav1.DeleteOptions{})
		},
		func() error {
			return admission.ValidatingAdmissionPolicyBindings().Delete(d.ctx, policy, metav1.DeleteOptions{})
		},
		func() error {
			return admission.ValidatingAdmissionPolicies().Delete(d.ctx, policy, metav1.DeleteOptions{})
		},
		func() error {
			return d.cluster.Dynamic().Resource(admissionparams.GVR).Namespace(ns).Delete(d.ctx, params, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}

	deny := []string{"packetstream/psclient"}
	settings := cli.New()
	settings.KubeConfig = d.cluster.KubeconfigPath
	settings.SetNamespace(ns)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), ns, "secret", func(string, ...any) {}); err != nil {
		return err
	}
	chrt, err := loader.Load(charttest.ChartDir())
	if err != nil {
		return err
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = release, ns, 3*time.Minute
	if _, err := inst.Run(chrt, map[string]any{"killLeaseByImage": map[string]any{"denylist": []any{deny[0]}}}); err != nil {
		return fmt.Errorf("helm install %s: %w", release, err)
	}
	fmt.Printf("   $ helm install %s charts/akash-janitor -n %s --set 'killLeaseByImage.denylist={%s}'\n", release, ns, deny[0])

	if closes != "" {
		cm, err := kc.CoreV1().ConfigMaps(ns).Get(d.ctx, budgetName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := kube.WriteKey(d.ctx, kc, cm, closebudget.Key, closes, "akash-janitor-demo"); err != nil {
			return err
		}
	}
	lists, err := imagematch.ParseLists(deny, nil)
	if err != nil {
		return err
	}
	_, err = admissionparams.Write(d.ctx, d.cluster.Dynamic(), ns, params, lists.AdmissionParams(), nil)
	return err
}

// janitor runs `kubectl janitor ARGS` and prints what the operator sees.
func (d *demo) janitor(args ...string) error {
	var out bytes.Buffer
	cmd := janitorctl.NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	code := janitorctl.Execute(d.ctx, cmd, append([]string{"--kubeconfig", d.cluster.KubeconfigPath}, args...), &out)
	fmt.Printf("   $ kubectl janitor %s\n", strings.Join(args, " "))
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Printf("     %s\n", l)
	}
	if code != 0 {
		return errors.New("kubectl janitor " + strings.Join(args, " ") + ": exit " + fmt.Sprint(code))
	}
	return nil
}
