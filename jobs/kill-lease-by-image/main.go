// kill-lease-by-image closes the leases whose Manifests run a denied image.
//
// Every service image of every Manifest, and what each tenant pod's
// runtime reports it started, is normalized and compared with the denylist
// (image references, or regex:<RE2>); the allowlist wins. A matching lease
// the chain lists active is closed, read again by ID just before signing:
// with the provider's key (MsgCloseBid, batched; --closer=tx), with the
// official CLI and that key (cli), or with the CLI in the provider pod
// (exec). On a node with lease reclamation (2.1), a lease with a window not
// started gets it started (MsgLeaseStartReclaim, tx closer) and is closed
// by a run after its deadline. Without a denylist it does nothing and says
// so.
//
// With --admission-params, each run first writes the chart's admission
// policy's parameters from the same lists (lib/imagematch/admission.go), so
// the API server refuses a denied image's pods before they start; a close's
// reason then says when a lease's ReplicaSet or StatefulSet is refused that
// way.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/imagematch"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	deny, allow         listFlag
	denyFile, allowFile string
	chain               leaseclose.ChainFlags
	batchSize           int
	reason              string
	provider            string
	lists               imagematch.Lists
	reasonCode          int32
	// admissionParams is the admission policy's parameters, an
	// ImageDenylist, namespace/name; empty: no policy.
	admissionParams                   string
	admissionNamespace, admissionName string
	// admissionParamsOnly: write them and stop (the chart's install hook).
	admissionParamsOnly bool
	manifestNS          string
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "kill-lease-by-image",
		Summary:           "close the leases whose Manifests run a denied image",
		DefaultMaxActions: 10,
		Pausable:          true,
		NeedsProvider:     true,
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&o.deny, "deny", "a denied image reference (docker.io/x/y, x/y:tag) or regex:<RE2>; repeat for more")
			fs.Var(&o.allow, "allow", "an allowed image, winning over the denylist; repeat for more")
			fs.StringVar(&o.denyFile, "deny-file", "", "a file of denylist entries, one per line (# comments)")
			fs.StringVar(&o.allowFile, "allow-file", "", "a file of allowlist entries, one per line")
			o.chain.Register(fs)
			akash.RegisterManifestNamespace(fs, &o.manifestNS)
			fs.IntVar(&o.batchSize, "batch-size", 10, "leases closed per transaction")
			fs.StringVar(&o.reason, "reason", "lease_closed_reason_unspecified", "close reason: 10000-10003 or its name")
			fs.StringVar(&o.provider, "provider", "", "the provider's address; the key must be its (empty: the key's)")
			fs.BoolVar(&o.admissionParamsOnly, "admission-params-only", false, "write the admission policy's parameters from the lists and stop: no chain, no close (the chart's hook after helm install and upgrade)")
			fs.StringVar(&o.admissionParams, "admission-params", "", "namespace/name of the denied-images admission policy's parameters, an ImageDenylist (akash-janitor.akash.network), created or written from the lists each run (empty: no policy)")
		},
		Validate: o.validate,
		Run:      func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

func (o *options) validate() error {
	var errs []error
	deny, allow := []string(o.deny), []string(o.allow)
	for file, dst := range map[string]*[]string{o.denyFile: &deny, o.allowFile: &allow} {
		if file == "" {
			continue
		}
		entries, err := readList(file)
		if err != nil {
			errs = append(errs, err)
		}
		*dst = append(*dst, entries...)
	}
	lists, err := imagematch.ParseLists(deny, allow)
	if err != nil {
		errs = append(errs, err)
	}
	o.lists = lists
	if code, err := chain.ParseCloseReason(o.reason); err != nil {
		errs = append(errs, fmt.Errorf("--reason: %v", err))
	} else {
		o.reasonCode = code
	}
	if o.admissionParams != "" {
		ns, name, err := kube.SplitNamespaced(o.admissionParams)
		if err != nil {
			errs = append(errs, fmt.Errorf("--admission-params=%q: %v", o.admissionParams, err))
		}
		o.admissionNamespace, o.admissionName = ns, name
	}
	if o.admissionParamsOnly && o.admissionParams == "" {
		errs = append(errs, errors.New("--admission-params-only: needs --admission-params, the parameters to write"))
	}
	if o.batchSize < 1 {
		errs = append(errs, fmt.Errorf("--batch-size=%d: must be 1 or more", o.batchSize))
	}
	return errors.Join(errs...)
}

func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("list file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// run is observe, plan, apply.
func run(ctx context.Context, env *job.Env, o *options) error {
	if o.admissionParamsOnly {
		return writeAdmissionParamsOnce(ctx, env.Clients.Dynamic, o.admissionNamespace, o.admissionName, o.lists, env.Log)
	}
	// The admission policy follows the lists first, whatever else fails:
	// an entry taken off the denylist is admitted again at once.
	var admissionErr error
	if o.admissionParams != "" {
		admissionErr = writeAdmissionParams(ctx, env.Clients.Dynamic, o.admissionNamespace, o.admissionName, o.lists, env.Log)
		if admissionErr != nil {
			env.Log.Error().Err(admissionErr).Msg("the admission policy's parameters are not written; the run goes on and exits 1")
		}
	}
	if len(o.lists.Deny) == 0 {
		env.Log.Warn().Msg("no denylist (--deny, --deny-file): nothing to close; this job waits for its input")
		return admissionErr
	}
	client, closer, budget, err := setup(env, o)
	if err != nil {
		return errors.Join(err, admissionErr)
	}
	if err := o.chain.CheckNode(ctx, client, env.Log, closer); err != nil {
		return errors.Join(job.BadInput("%w", err), admissionErr)
	}
	obs, err := observe(ctx, env.Clients, client, o.provider, o.manifestNS, env.Log)
	if err != nil {
		return errors.Join(err, admissionErr)
	}
	for _, err := range obs.invalid {
		env.Log.Warn().Err(err).Msg("a Manifest that does not parse is skipped")
	}
	d, notes := plan(obs, o.lists, o.provider, env.Now())
	for _, n := range notes {
		ev := env.Log.Warn().Err(n.err)
		if n.object != "" {
			ev = ev.Str("object", n.object)
		}
		if n.lease != "" {
			ev = ev.Str("lease", n.lease).Str("service", n.service)
		}
		ev.Msg(n.msg)
	}
	env.Log.Info().Int("manifests", len(obs.leases)).Int("chain_live_leases", len(obs.chain)).Int("leases_matching", len(d.denials)).
		Int("deny_entries", len(o.lists.Deny)).Msg("observed")
	if o.admissionParams != "" {
		withRefusals(d.closes, observeRefusals(ctx, env.Clients.Kube, d.closes, env.Log))
	}
	guard, err := o.chain.Completion(client, o.provider)
	if err != nil {
		return errors.Join(job.BadInput("%w", err), admissionErr)
	}
	exec := &leaseclose.Executor{Closer: closer, Chain: client, Reason: o.reasonCode, Now: env.Now, Budget: budget, Completion: guard}
	return errors.Join(env.Actuator.ApplyBatched(ctx, d.starts, o.batchSize, exec.Batch),
		env.Actuator.ApplyBatched(ctx, d.closes, o.batchSize, exec.Batch), admissionErr)
}

// setup builds the chain client, the closer and the daily close budget;
// every problem is bad configuration, reported without the key.
func setup(env *job.Env, o *options) (*chain.Client, leaseclose.Closer, *closebudget.Budget, error) {
	client, err := o.chain.Client()
	if err != nil {
		return nil, nil, nil, job.BadInput("%w", err)
	}
	closer, err := o.chain.Closer(client, o.provider, o.batchSize, "akash-janitor kill-lease-by-image", env.Clients.Config)
	if err != nil {
		return nil, nil, nil, job.BadInput("%w", err)
	}
	o.provider = closer.Provider()
	budget, err := o.chain.Budget(env.Clients.Kube, "kill-lease-by-image", env.Now, env.Metrics)
	if err != nil {
		return nil, nil, nil, job.BadInput("%w", err)
	}
	return client, closer, budget, nil
}
