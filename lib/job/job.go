// Package job is the runner every janitor binary shares: common flags (each
// also settable by environment variable), logging, signal handling, the
// Kubernetes clients, the actuator, the run summary, and exit codes that mean
// something (0 done, 1 failed, 2 bad configuration).
package job

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/version"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitBadInput = 2
)

// DefaultGOGC is the garbage collector's target unless GOGC is set.
const DefaultGOGC = 50

// EnvPrefix prefixes the environment variable of every flag:
// --max-actions is also JANITOR_MAX_ACTIONS.
const EnvPrefix = "JANITOR_"

// Common are the options every job has.
type Common struct {
	Kube       kube.Options
	DryRun     bool
	MaxActions int
	Timeout    time.Duration
	LogLevel   string
	LogFormat  string
	// PageSize is the LIST page size of the job's cluster-wide reads.
	PageSize int64
	// PushgatewayURL, if set, receives each run's summary.
	PushgatewayURL string
	// Pause is the maintenance switch of a Pausable job.
	Pause PauseSwitch
	// Blockers hold a Pausable job while the cluster is not fit for it.
	Blockers Blockers
}

// PauseSwitch is how an operator pauses the jobs that change anything:
// Paused (--paused, the chart's global.pause), or a ConfigMap named
// ConfigMap in Namespace, whose existence pauses them (its "reason" key says
// why), so that one kubectl command pauses them and another resumes them.
type PauseSwitch struct {
	Paused    bool
	Namespace string
	ConfigMap string
}

// PauseReason is the reason key of the pause ConfigMap.
const PauseReason = "reason"

// reason says whether the switch is on, and why ("" if not). A switch that
// cannot be read is on: a job that cannot tell whether it may act does not.
func (p PauseSwitch) reason(ctx context.Context, kube kubernetes.Interface) string {
	if p.Paused {
		return "--paused is set (the chart's global.pause)"
	}
	if p.Namespace == "" || p.ConfigMap == "" {
		return ""
	}
	cm, err := kube.CoreV1().ConfigMaps(p.Namespace).Get(ctx, p.ConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return ""
	case err != nil:
		return fmt.Sprintf("the pause switch, ConfigMap %s/%s, cannot be read, so the job holds every action: %v", p.Namespace, p.ConfigMap, err)
	}
	why := strings.TrimSpace(cm.Data[PauseReason])
	if why == "" {
		why = "no reason given"
	}
	return fmt.Sprintf("ConfigMap %s/%s is there (%s); delete it to resume", p.Namespace, p.ConfigMap, why)
}

// Spec describes one job binary.
type Spec struct {
	// Name is the job's name in logs, Events and the User-Agent.
	Name string
	// Summary is one line for --help.
	Summary string
	// DefaultMaxActions is the job's --max-actions default.
	DefaultMaxActions int
	// Flags registers the job's own flags.
	Flags func(fs *flag.FlagSet)
	// Validate checks the job's options after parsing; an error is bad
	// configuration (exit 2) and nothing runs.
	Validate func() error
	// Run does the work. An error it returns fails the run (exit 1), unless it
	// wraps ErrBadInput (exit 2).
	Run func(ctx context.Context, env *Env) error
	// Pausable marks a job that changes the cluster, the chain or the
	// node: it honours the pause switch (PauseSwitch) and the alert
	// blocker (Blockers), observing and planning as usual and holding
	// every action.
	Pausable bool
	// NeedsProvider marks a Pausable job that acts only while the
	// provider's pod is Ready (--require-ready-pod).
	NeedsProvider bool
	// Loop marks a long-running job (a DaemonSet) that works in passes until
	// it is stopped: --timeout bounds each pass, not the process; each pass
	// takes an actuator from env.Actuator.Pass() and logs its own summary;
	// the exit code follows Run's error alone.
	Loop bool
	// WithoutCluster, when set, lets the job run when it is given no
	// cluster at all (no kubeconfig anywhere, not in a pod): env.Clients is
	// nil, no Event is recorded, and this, what is lost, is logged. A
	// kubeconfig given but unusable is still bad configuration.
	WithoutCluster string
}

// Env is what a running job is given.
type Env struct {
	Common   Common
	Log      zerolog.Logger
	Clients  *kube.Clients
	Actuator *actuator.Actuator
	// Counter counts the job's API requests (reported in the summary).
	Counter *kube.RequestCounter
	// Now is the run's clock.
	Now func() time.Time
	// Metrics are the job's own metrics, pushed with the run summary when
	// --pushgateway-url is set.
	Metrics *prometheus.Registry
}

// ErrBadInput marks an error as bad configuration or input (exit 2).
var ErrBadInput = errors.New("bad input")

// BadInput makes an error that exits the run with 2, formatted as
// fmt.Errorf formats: an error given with %w stays in the chain
// (errors.Is and errors.As see it).
func BadInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

// Main runs the job with the process's arguments and environment and exits.
func Main(spec Spec) {
	os.Exit(Run(context.Background(), spec, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// Run runs the job and returns its exit code. Logs go to logOut, --help and
// --version to out.
func Run(ctx context.Context, spec Spec, args []string, lookupEnv func(string) (string, bool), out, logOut io.Writer) int {
	if _, set := os.LookupEnv("GOGC"); !set {
		// A job's heap is mostly LIST pages it has done with: collected
		// twice as often as Go's default, the peak a memory limit must
		// hold drops by about a sixth, for a little CPU. GOGC overrides.
		debug.SetGCPercent(DefaultGOGC)
	}
	var c Common
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Kube.Kubeconfig, "kubeconfig", "", "kubeconfig path; empty: in-cluster config, else $KUBECONFIG or ~/.kube/config")
	fs.StringVar(&c.Kube.Context, "context", "", "kubeconfig context to use; empty: the current one")
	qps := fs.Float64("kube-qps", 20, "API requests per second the job may make")
	fs.IntVar(&c.Kube.Burst, "kube-burst", 40, "API request burst")
	fs.Int64Var(&c.PageSize, "page-size", kube.DefaultPageSize, "objects per LIST page: smaller pages use less memory and more requests")
	fs.BoolVar(&c.DryRun, "dry-run", false, "log what would be done, change nothing")
	fs.IntVar(&c.MaxActions, "max-actions", spec.DefaultMaxActions, "most actions carried out in one run; the rest are reported and left for the next run")
	timeoutHelp := "the whole run's time limit"
	if spec.Loop {
		timeoutHelp = "the time limit of one pass"
	}
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, timeoutHelp)
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json (for kubectl logs and log pipelines) or console (for people)")
	if !spec.Loop {
		fs.StringVar(&c.PushgatewayURL, "pushgateway-url", "", "a Prometheus Pushgateway (http://host:9091) to push each run's summary to; empty: none")
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if spec.Pausable {
		fs.BoolVar(&c.Pause.Paused, "paused", false, "hold every action: observe, plan and log, change nothing (the chart's global.pause)")
		fs.StringVar(&c.Pause.Namespace, "pause-namespace", "", "namespace of the pause ConfigMap (the chart sets its own); empty: no ConfigMap is read")
		fs.StringVar(&c.Pause.ConfigMap, "pause-configmap", "akash-janitor-pause", "a ConfigMap of this name in --pause-namespace pauses the job while it exists")
		c.Blockers.register(fs, spec.NeedsProvider)
	}
	installTo := fs.String("install-to", "", "copy this binary into the directory and exit: an init container so puts the job into another image (the provider's, for --closer=cli)")
	if spec.Flags != nil {
		spec.Flags(fs)
	}
	if code, ok := ParseFlags(spec.Name, spec.Summary, fs, args, lookupEnv, out, logOut); !ok {
		return code
	}
	if *showVersion {
		fmt.Fprintln(out, version.Line(spec.Name))
		return ExitOK
	}
	if *installTo != "" {
		path, err := installSelf(*installTo, spec.Name)
		if err != nil {
			fmt.Fprintf(logOut, "%s: --install-to: %v\n", spec.Name, err)
			return ExitFailed
		}
		fmt.Fprintf(logOut, "%s: installed %s\n", spec.Name, path)
		return ExitOK
	}
	c.Kube.QPS = float32(*qps)
	c.Kube.UserAgent = "akash-janitor/" + spec.Name + "/" + version.Version

	log, err := NewLogger(logOut, c.LogFormat, c.LogLevel)
	if err != nil {
		fmt.Fprintf(logOut, "%s: %v\n", spec.Name, err)
		return ExitBadInput
	}
	log = log.With().Str("job", spec.Name).Logger()

	if err := c.validate(); err != nil {
		log.Error().Err(err).Msg("bad configuration; nothing was done")
		return ExitBadInput
	}
	if spec.Validate != nil {
		if err := spec.Validate(); err != nil {
			log.Error().Err(err).Msg("bad configuration; nothing was done")
			return ExitBadInput
		}
	}

	counter := &kube.RequestCounter{}
	var clients *kube.Clients
	cfg, err := kube.Config(c.Kube)
	switch {
	case errors.Is(err, kube.ErrNoKubeconfig) && spec.WithoutCluster != "":
		log.Warn().Msg("no cluster given (no --kubeconfig, KUBECONFIG or ~/.kube/config, not in a pod): " + spec.WithoutCluster)
	case err != nil:
		log.Error().Err(err).Msg("cannot build the Kubernetes client; nothing was done")
		return ExitBadInput
	default:
		counter.Instrument(cfg)
		if clients, err = kube.NewClients(cfg); err != nil {
			log.Error().Err(err).Msg("cannot build the Kubernetes client; nothing was done")
			return ExitBadInput
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if !spec.Loop {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.Timeout, fmt.Errorf("--timeout %s reached", c.Timeout))
		defer cancel()
	}

	instance, _ := os.Hostname()
	opts := actuator.Options{
		DryRun:     c.DryRun,
		MaxActions: c.MaxActions,
		Log:        log,
	}
	if clients != nil {
		opts.Events = &actuator.KubeEvents{
			Client:     clients.Kube.EventsV1(),
			Controller: "akash-janitor.akash.network/" + spec.Name,
			Instance:   instance,
		}
	}
	if spec.Pausable {
		opts.Pause = func() string {
			if clients == nil {
				return "blocked: no cluster given, so the pause switch and the blockers cannot be read"
			}
			if why := c.Pause.reason(ctx, clients.Kube); why != "" {
				return "paused: " + why
			}
			return c.Blockers.reason(ctx, clients.Kube)
		}
	}
	act := actuator.New(opts)
	env := &Env{Common: c, Log: log, Clients: clients, Actuator: act, Counter: counter, Now: time.Now, Metrics: prometheus.NewRegistry()}

	start := time.Now()
	log.Info().Bool("dry_run", c.DryRun).Int("max_actions", c.MaxActions).Str("version", version.Version).Msg("run started")
	runErr := spec.Run(ctx, env)
	log.Debug().Str("api_requests", counter.String()).Msg("API requests made")
	sum := log.With().Int("api_requests", counter.Total())
	if mib, ok := peakRSSMiB(); ok {
		sum = sum.Float64("peak_rss_mib", mib)
	}
	elapsed := time.Since(start)
	act.LogSummary(sum.Logger(), elapsed, runErr)
	if c.PushgatewayURL != "" {
		// A failed push does not fail the run: the work is done, and said so
		// in the log.
		if err := pushSummary(context.WithoutCancel(ctx), c.PushgatewayURL, spec.Name, act.Summary(), elapsed, runErr, time.Now(), env.Metrics); err != nil {
			log.Warn().Err(err).Msg("could not push the run summary")
		}
	}

	switch {
	case errors.Is(runErr, ErrBadInput):
		return ExitBadInput
	case runErr != nil, !spec.Loop && act.Summary().Failed > 0:
		return ExitFailed
	}
	return ExitOK
}

func (c *Common) validate() error {
	var errs []error
	if c.MaxActions < 0 {
		errs = append(errs, fmt.Errorf("--max-actions=%d: must be 0 or more", c.MaxActions))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout=%s: must be positive", c.Timeout))
	}
	if c.Kube.QPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-qps=%v: must be positive", c.Kube.QPS))
	}
	if c.PageSize < 1 {
		errs = append(errs, fmt.Errorf("--page-size=%d: must be 1 or more", c.PageSize))
	}
	if err := validURL("pushgateway-url", c.PushgatewayURL); err != nil {
		errs = append(errs, err)
	}
	if err := c.Blockers.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Kube.Burst < 1 {
		errs = append(errs, fmt.Errorf("--kube-burst=%d: must be 1 or more", c.Kube.Burst))
	}
	return errors.Join(errs...)
}

// ParseFlags parses args into fs as every akash-janitor command does, with
// spf13/pflag as kubectl and helm do: --flags, -h and --help (usage to
// out), `version`, a mistake in one line pointing to --help (to errOut),
// then every flag not given filled from its environment variable
// (EnvName), so a flag always wins. ok false: stop with code.
func ParseFlags(name, summary string, fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool), out, errOut io.Writer) (code int, ok bool) {
	pfs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	pfs.SortFlags = false
	pfs.AddGoFlagSet(fs)
	pfs.SetOutput(io.Discard)
	pfs.Usage = func() {}
	if err := pfs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(out, "%s: %s\n\nUsage: %s [flags]\n       %s version\n\nEvery flag can also be set by environment variable: --log-level as %sLOG_LEVEL.\n\nFlags:\n%s",
				name, summary, name, name, EnvPrefix, pfs.FlagUsages())
			return ExitOK, false
		}
		fmt.Fprintf(errOut, "%s: %v (see %s --help)\n", name, err, name)
		return ExitBadInput, false
	}
	if pfs.NArg() == 1 && pfs.Arg(0) == "version" {
		fmt.Fprintln(out, version.Line(name))
		return ExitOK, false
	}
	if pfs.NArg() > 0 {
		fmt.Fprintf(errOut, "%s: unexpected argument %q (all options are --flags; see %s --help)\n", name, pfs.Arg(0), name)
		return ExitBadInput, false
	}
	if err := applyEnv(pfs, lookupEnv); err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", name, err)
		return ExitBadInput, false
	}
	return ExitOK, true
}

// EnvName is the environment variable that sets a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if given[f.Name] {
			return
		}
		v, ok := lookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q (for --%s): %v", EnvName(f.Name), v, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// peakRSSMiB is this process's peak resident memory (VmHWM), for sizing the
// memory limit. The parent's view (wait4's ru_maxrss) is no use for that:
// it counts the parent's memory too when the child was started by vfork,
// as Go starts processes.
func peakRSSMiB() (float64, bool) {
	self, err := procfs.Self()
	if err != nil {
		return 0, false
	}
	st, err := self.NewStatus()
	if err != nil || st.VmHWM == 0 {
		return 0, false
	}
	return math.Round(float64(st.VmHWM)/(1<<20)*10) / 10, true
}

// installSelf copies the running binary to dir/name, whole or not at all.
func installSelf(dir, name string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, "."+name+"-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, name)
	return dst, os.Rename(tmp.Name(), dst)
}
