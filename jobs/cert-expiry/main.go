// cert-expiry checks, on a control-plane node, when the cluster's
// certificates expire: every certificate file under the kubeadm and
// kubespray locations, the client certificates of the kubeconfigs in
// /etc/kubernetes, and the API server's serving certificate. When they
// expire the provider is down ("You must be logged in to the server
// (Unauthorized)"). It warns below --warn-days and fails the run below
// --critical-days, so the failed Job alerts; the renewal stays manual, and
// the warning says how in one line.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/job"
)

type options struct {
	root        string
	dirs        string
	kubeconfigs string
	warnDays    int
	critDays    int
	apiServer   bool
	nodeName    string
}

// renewal is the runbook's procedure, in one line.
const renewal = "renew, one control-plane node at a time: etcdctl snapshot save <file> (and tar /etc/kubernetes /etc/ssl/etcd); " +
	"kubeadm certs renew all; cp /etc/kubernetes/admin.conf ~/.kube/config; restart kube-apiserver, kube-scheduler, " +
	"kube-controller-manager (kubectl -n kube-system delete pods -l component=<name>) and etcd (systemctl restart etcd); " +
	"then kubeadm certs check-expiration"

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:    "cert-expiry",
		Summary: "report when the cluster's certificates expire; fail the run when one is about to",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.root, "root", "/", "where the node's filesystem is mounted (the chart mounts its directories under /host)")
			fs.StringVar(&o.dirs, "dirs", "/etc/kubernetes/pki,/etc/kubernetes/ssl,/etc/ssl/etcd/ssl",
				"comma-separated directories searched for certificate files (.crt, .pem, .cer, .cert); missing ones are skipped")
			fs.StringVar(&o.kubeconfigs, "kubeconfigs", "/etc/kubernetes/*.conf", "glob of kubeconfigs whose client certificates are checked")
			fs.IntVar(&o.warnDays, "warn-days", 30, "warn when a certificate expires within this many days")
			fs.IntVar(&o.critDays, "critical-days", 7, "fail the run when a certificate expires within this many days")
			fs.BoolVar(&o.apiServer, "apiserver", true, "also check the API server's serving certificate")
			fs.StringVar(&o.nodeName, "node-name", "", "this node's name, for the Events (the chart sets it)")
		},
		Validate: func() error {
			if o.critDays < 0 || o.warnDays < o.critDays {
				return fmt.Errorf("--warn-days=%d, --critical-days=%d: want 0 <= critical <= warn", o.warnDays, o.critDays)
			}
			return nil
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, *o) },
	}
}

// run is observe (the files, the kubeconfigs, the API server), plan (which
// certificates expire soon), and the report: cert-expiry changes nothing,
// and fails the run when one is critical, so the failed Job alerts.
func run(ctx context.Context, env *job.Env, o options) error {
	var dirs []string
	for _, d := range strings.Split(o.dirs, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	certs, problems := observe(o.root, dirs, o.kubeconfigs, o.apiServer, env.Clients.Config.Host)
	daysLeft := daysLeftGauge()
	env.Metrics.MustRegister(daysLeft)

	p := plan(certs, env.Now(), o.warnDays, o.critDays, o.nodeName)
	for _, c := range p.checked {
		daysLeft.WithLabelValues(o.nodeName, c.source, c.where, c.subject).Set(c.daysLeft)
		if c.level == "" {
			env.Log.Info().Str("source", c.source).Str("file", c.where).Str("subject", c.subject).
				Time("not_after", c.notAfter).Float64("days_left", c.daysLeft).Msg("certificate valid")
		}
	}
	for _, pr := range problems {
		env.Log.Warn().Str("file", pr.where).Err(pr.err).Str("reason", "CertificateUnreadable").Msg("cannot read this certificate")
	}
	env.Log.Info().Int("certificates", len(certs)).Int("unreadable", len(problems)).Int("critical", p.critical).Msg("checked")
	env.Actuator.Report(ctx, p.findings)
	if p.critical > 0 {
		return fmt.Errorf("%d certificates expire within %d days (or have expired): %s", p.critical, o.critDays, renewal)
	}
	return nil
}

// daysLeftGauge is the metric each run pushes, a series a certificate.
func daysLeftGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_cert_expiry_days_left",
		Help: "Days until each certificate expires (negative: expired)."}, []string{"node", "source", "where", "subject"})
}
