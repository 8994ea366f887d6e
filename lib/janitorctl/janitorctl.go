// Package janitorctl is `kubectl janitor`: the product's own questions
// answered at an operator's terminal, as cert-manager's cmctl and
// CloudNativePG's `kubectl cnpg` answer theirs. status (every component of a
// release, its schedule, last runs, pause, blockers, close budget and
// admission lists), report (what the jobs did, from the Events they
// recorded), pause and resume (the switch the jobs read), and run (a Job
// from a CronJob now, as `kubectl create job --from=cronjob/...` makes it).
//
// It is a package, not only a main, so the demo (ci/demo) runs the same
// commands an operator runs; cmd/kubectl-janitor is its binary.
package janitorctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/version"
)

// Name is the binary's name: kubectl finds kubectl-janitor on PATH and runs
// it as `kubectl janitor`.
const Name = "kubectl-janitor"

// ErrBadInput marks an error in what the operator asked (an unknown job,
// a namespace without a release): the command exits 2, as the jobs do.
var ErrBadInput = errors.New("bad input")

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

// Options are what every command shares: kubectl's connection flags, the
// release, the output streams and the clock.
type Options struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams
	// Release is --release: empty, the only release in the namespace.
	Release string
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	clients *kube.Clients
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Clients connects to the cluster kubectl's flags name, once.
func (o *Options) Clients() (*kube.Clients, error) {
	if o.clients != nil {
		return o.clients, nil
	}
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, badInput("cannot build the Kubernetes client: %v", err)
	}
	cfg.UserAgent = "akash-janitor/" + Name + "/" + version.Version
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 20, 40
	}
	c, err := kube.NewClients(cfg)
	if err != nil {
		return nil, err
	}
	o.clients = c
	return c, nil
}

// Namespace is the namespace -n names, else the kubeconfig context's, else
// "default", as kubectl chooses it.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", badInput("namespace: %v", err)
	}
	return ns, nil
}

// NewCommand is `kubectl janitor` with every subcommand.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Flags: genericclioptions.NewConfigFlags(true), Streams: streams}
	return o.Command()
}

// Command is `kubectl janitor` on these options.
func (o *Options) Command() *cobra.Command {
	root := &cobra.Command{
		Use:   Name,
		Short: "Operate akash-janitor: status, report, pause, resume, run",
		Long: `kubectl janitor answers an Akash provider operator's questions about akash-janitor,
the Helm chart that runs the janitor jobs next to akash-provider.

The chart installs in akash-services (helm install akash-janitor ... -n akash-services):
pass -n akash-services, or set it as your kubeconfig context's namespace. As kubectl
does, the namespace is -n, else the context's, else "default". --release picks a
release when the namespace holds several.`,
		Example: `  kubectl janitor status -n akash-services
  kubectl janitor report --since 6h
  kubectl janitor pause -n akash-services --reason "node maintenance until 14:00"
  kubectl janitor resume -n akash-services
  kubectl janitor run dangling-deployments --dry-run -n akash-services`,
		Annotations: map[string]string{
			// Usage lines say `kubectl janitor ...`, as the operator types it.
			cobra.CommandDisplayNameAnnotation: "kubectl janitor",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(o.Streams.In)
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	o.Flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&o.Release, "release", "", "the Helm release; empty: the only akash-janitor release in the namespace")
	_ = root.RegisterFlagCompletionFunc("release", o.completeReleases)
	_ = root.RegisterFlagCompletionFunc("namespace", o.completeNamespaces)
	root.AddCommand(o.statusCommand(), o.reportCommand(), o.pauseCommand(), o.resumeCommand(), o.runCommand(), o.versionCommand())
	for _, c := range root.Commands() {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				err := run(cmd, args)
				if err != nil && !errors.Is(err, ErrBadInput) {
					return &failure{err}
				}
				return err
			}
		}
	}
	return root
}

// failure is an error of a command that ran: the cluster refused or could
// not be reached (exit 1). Every other error comes before a command runs,
// from cobra or pflag refusing the command line (exit 2), or is bad input.
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func (o *Options) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(o.Streams.Out, version.Line(Name))
			return err
		},
	}
}

// Execute runs the command with args and returns the exit code: 0 done, 1
// failed, 2 bad input (the command line, the job or release named), with
// the error on the error stream, one line, as kubectl prints it.
func Execute(ctx context.Context, cmd *cobra.Command, args []string, errOut io.Writer) int {
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(errOut, "error: %v\n", trimBadInput(err))
	var f *failure
	if errors.As(err, &f) && !errors.Is(err, ErrBadInput) {
		return 1
	}
	return 2
}

// trimBadInput drops the marker's text from the message: the operator
// reads what was wrong, not its class.
func trimBadInput(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadInput.Error()+": ")
}

// printStructured writes v as -o json or -o yaml asks.
func printStructured(out io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// checkOutput refuses an -o this command cannot print.
func checkOutput(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return badInput("--output=%q: want one of %q", format, allowed)
}
