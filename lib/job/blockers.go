package job

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// Blockers hold every action of a job while the cluster is not fit for
// it, in the manner of kured's reboot blockers: while the pod ReadyPod
// (the provider's, for the jobs that rely on it) is not Ready, or while a
// Prometheus alert matching Alerts fires. A blocker that cannot be asked
// holds too: a job that cannot tell whether it may act does not.
type Blockers struct {
	// ReadyPod is namespace/name of a pod that must be Ready; "" none.
	ReadyPod string
	// PrometheusURL is the Prometheus Alerts are asked of.
	PrometheusURL string
	// Alerts are PromQL label matchers (severity="critical",
	// alertname!="Watchdog"): an alert of ALERTS matching them, firing,
	// holds the job; "" none.
	Alerts string

	query string // ALERTS{alertstate="firing",<Alerts>}
}

// DefaultProviderPod is the provider's pod, which the chain jobs and
// force-replicasets want Ready before they act.
const DefaultProviderPod = "akash-services/akash-provider-0"

func (b *Blockers) register(fs *flag.FlagSet, readyPod bool) {
	if readyPod {
		fs.StringVar(&b.ReadyPod, "require-ready-pod", DefaultProviderPod, "namespace/name of a pod (the provider's) that must be Ready for the job to act; empty: none")
	}
	fs.StringVar(&b.PrometheusURL, "prometheus-url", "", "a Prometheus (http://prometheus.monitoring:9090) that --blocking-alerts are asked of")
	fs.StringVar(&b.Alerts, "blocking-alerts", "", `PromQL label matchers, e.g. severity="critical": while an alert matching them fires, the job holds every action; empty: none`)
}

// validate checks the flags and makes the query.
func (b *Blockers) validate() error {
	var errs []error
	if b.ReadyPod != "" {
		if _, _, err := kube.SplitNamespaced(b.ReadyPod); err != nil {
			errs = append(errs, fmt.Errorf("--require-ready-pod=%q: %v", b.ReadyPod, err))
		}
	}
	if err := validURL("prometheus-url", b.PrometheusURL); err != nil {
		errs = append(errs, err)
	}
	if sel := strings.TrimSpace(b.Alerts); sel != "" {
		matchers, err := parser.ParseMetricSelector("{" + sel + "}")
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--blocking-alerts=%q: not PromQL label matchers: %v", b.Alerts, err))
		case b.PrometheusURL == "":
			errs = append(errs, fmt.Errorf("--blocking-alerts=%q needs --prometheus-url to ask", b.Alerts))
		default:
			parts := []string{`alertstate="firing"`}
			for _, m := range matchers {
				parts = append(parts, m.String())
			}
			b.query = "ALERTS{" + strings.Join(parts, ",") + "}"
		}
	}
	return errors.Join(errs...)
}

// reason says whether a blocker holds the job, and why ("" if none).
func (b *Blockers) reason(ctx context.Context, client kubernetes.Interface) string {
	var why []string
	if b.ReadyPod != "" {
		if r := b.podReason(ctx, client); r != "" {
			why = append(why, r)
		}
	}
	if b.query != "" {
		if r := b.alertReason(ctx); r != "" {
			why = append(why, r)
		}
	}
	if len(why) == 0 {
		return ""
	}
	return "blocked: " + strings.Join(why, "; ")
}

func (b *Blockers) podReason(ctx context.Context, client kubernetes.Interface) string {
	ns, name, _ := kube.SplitNamespaced(b.ReadyPod)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("pod %s, which must be Ready for the job to act, is not there", b.ReadyPod)
	case err != nil:
		return fmt.Sprintf("pod %s cannot be read, so the job cannot tell whether it is Ready: %v", b.ReadyPod, err)
	case pod.DeletionTimestamp != nil:
		return fmt.Sprintf("pod %s is being deleted", b.ReadyPod)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return ""
		}
		detail := strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{c.Reason, c.Message}, func(s string) bool { return s == "" }), ": "))
		if detail == "" {
			detail = "no reason given"
		}
		return fmt.Sprintf("pod %s is not Ready (%s, since %s)", b.ReadyPod, detail, c.LastTransitionTime.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("pod %s is not Ready (phase %s, no Ready condition yet)", b.ReadyPod, pod.Status.Phase)
}

func (b *Blockers) alertReason(ctx context.Context) string {
	failed := func(err error) string {
		return fmt.Sprintf("Prometheus at %s cannot be asked whether an alert matching {%s} fires, so the job holds every action: %v", b.PrometheusURL, b.Alerts, err)
	}
	client, err := promapi.NewClient(promapi.Config{Address: b.PrometheusURL})
	if err != nil {
		return failed(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, _, err := promv1.NewAPI(client).Query(ctx, b.query, time.Now())
	if err != nil {
		return failed(err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return failed(fmt.Errorf("the query %s answered a %s, not a vector", b.query, v.Type()))
	}
	if len(vec) == 0 {
		return ""
	}
	var names []string
	for _, s := range vec {
		names = append(names, string(s.Metric[model.AlertNameLabel]))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return fmt.Sprintf("%d alerts matching {%s} fire: %s", len(vec), b.Alerts, strings.Join(names, ", "))
}
