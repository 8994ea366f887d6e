package janitorctl

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// pauseReasonKey is the one key of the pause ConfigMap the jobs read.
const pauseReasonKey = job.PauseReason

// fieldManager names this plugin in the objects it writes.
const fieldManager = Name

func (o *Options) pauseCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "pause --reason TEXT",
		Short: "Hold every job that changes anything, with the reason, until resume",
		Long: `pause turns on the pause switch the release's jobs read: the ConfigMap global.pauseConfigMap
(akash-janitor-pause) in global.pauseNamespace (the release's namespace unless set), made
with the reason, and who paused and when. While it exists, force-replicasets,
kill-lease-by-image, dangling-deployments, restore-command and zombie-reaper observe and plan
as usual, log every action as held with the reason, change nothing, and exit 0.

Each job reads the switch once a run (the zombie reaper once a pass): the next run holds; a
run under way finishes as it began. Every release that reads the same switch (a provider
split in a cluster and a node release) is paused with it. Paused again, the reason is replaced.`,
		Example: `  kubectl janitor pause -n akash-services --reason "node maintenance until 14:00"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Pause(cmd.Context(), reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the jobs are paused (every held action's log line says it)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func (o *Options) resumeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resume",
		Short: "Let the paused jobs act again (deletes the pause switch)",
		Long: `resume deletes the pause switch ConfigMap: the jobs act again from their next run. A job is
paused while that ConfigMap exists, whatever it holds, so resume removes it rather than
clearing it. The chart's own switch, global.pause, is helm's to turn off: resume says so
when it is on.`,
		Example: `  kubectl janitor resume -n akash-services`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Resume(cmd.Context())
		},
	}
}

// Pause creates or updates the release's pause switch(es) with the reason
// and who paused, and when.
func (o *Options) Pause(ctx context.Context, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return badInput("--reason is empty: say why the jobs are paused (every held action's log line says it)")
	}
	rel, c, order, readers, err := o.pauseSwitches(ctx, "pause")
	if err != nil {
		return err
	}
	by := o.whoAmI(ctx, c)
	at := o.now().UTC().Format(time.RFC3339)
	for _, sw := range order {
		where := sw.Namespace + "/" + sw.ConfigMap
		cm, err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Get(ctx, sw.ConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cm = &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Name: sw.ConfigMap, Namespace: sw.Namespace,
					Labels: map[string]string{LabelPartOf: PartOf, "app.kubernetes.io/managed-by": Name},
				},
				Data: map[string]string{pauseReasonKey: reason, PausedBy: by, PausedAt: at},
			}
			if _, err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
				return fmt.Errorf("create the pause switch, ConfigMap %s: %w", where, err)
			}
			fmt.Fprintf(o.Streams.Out, "Paused: ConfigMap %s created (reason %q, by %s at %s).\n", where, reason, by, at)
		case err != nil:
			return fmt.Errorf("read the pause switch, ConfigMap %s: %w", where, err)
		default:
			was, wasBy, wasSince := pauseRecord(cm)
			cm = cm.DeepCopy()
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[pauseReasonKey], cm.Data[PausedBy], cm.Data[PausedAt] = reason, by, at
			// The resourceVersion read: an update that raced another
			// writer is refused rather than overwriting it.
			if _, err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				return fmt.Errorf("update the pause switch, ConfigMap %s: %w", where, err)
			}
			since := ""
			if wasSince != nil {
				since = " since " + wasSince.Format(time.RFC3339)
			}
			fmt.Fprintf(o.Streams.Out, "Already paused%s%s (%q); reason now %q (by %s at %s), ConfigMap %s.\n", since, byWhom(wasBy), was, reason, by, at, where)
		}
		fmt.Fprintf(o.Streams.Out, "Held from their next run: %s. Runs under way finish as they began.\n", strings.Join(readers[sw], ", "))
		if sw.Namespace != rel.Namespace {
			fmt.Fprintf(o.Streams.Out, "The switch is in %s (global.pauseNamespace): every release reading it is paused.\n", sw.Namespace)
		}
	}
	return nil
}

func byWhom(by string) string {
	if by == "" {
		return ""
	}
	return " by " + by
}

// pauseSwitches finds the release, the clients and the pause switches its
// jobs read, with the jobs reading each; a release none of whose jobs
// reads one is bad input to the verb (pause or resume).
func (o *Options) pauseSwitches(ctx context.Context, verb string) (*release, *kube.Clients, []pauseSwitch, map[pauseSwitch][]string, error) {
	rel, err := o.release(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c, err := o.Clients()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	order, readers := switches(rel)
	if len(order) == 0 {
		return nil, nil, nil, nil, badInput("release %s in namespace %s runs no job that reads a pause switch (no --pause-namespace): nothing to %s", rel.Name, rel.Namespace, verb)
	}
	return rel, c, order, readers, nil
}

// Resume deletes the release's pause switch(es).
func (o *Options) Resume(ctx context.Context) error {
	rel, c, order, readers, err := o.pauseSwitches(ctx, "resume")
	if err != nil {
		return err
	}
	for _, sw := range order {
		where := sw.Namespace + "/" + sw.ConfigMap
		cm, err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Get(ctx, sw.ConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(o.Streams.Out, "Not paused: there is no ConfigMap %s.\n", where)
			continue
		case err != nil:
			return fmt.Errorf("read the pause switch, ConfigMap %s: %w", where, err)
		}
		reason, by, since := pauseRecord(cm)
		// Deleted only as read: a switch made again meanwhile (another
		// operator's pause) is left alone.
		uid := cm.UID
		if err := c.Kube.CoreV1().ConfigMaps(sw.Namespace).Delete(ctx, sw.ConfigMap, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete the pause switch, ConfigMap %s: %w", where, err)
		}
		was := ""
		if since != nil {
			was = fmt.Sprintf(", paused since %s (for %s)", since.Format(time.RFC3339), duration.HumanDuration(o.now().Sub(*since)))
		}
		fmt.Fprintf(o.Streams.Out, "Resumed: ConfigMap %s deleted%s%s, reason %q.\n", where, was, byWhom(by), reason)
		fmt.Fprintf(o.Streams.Out, "Acting again from their next run: %s.\n", strings.Join(readers[sw], ", "))
	}
	var held []string
	for comp, sw := range pausable(rel) {
		if sw.Paused {
			held = append(held, comp)
		}
	}
	if len(held) > 0 {
		fmt.Fprintf(o.Streams.Out, "Still paused by the chart (global.pause=true, --paused): %s. helm upgrade %s <chart> -n %s --reuse-values --set global.pause=false lets them act.\n",
			strings.Join(slices.Sorted(slices.Values(held)), ", "), rel.Name, rel.Namespace)
	}
	return nil
}

// whoAmI is the user the API server knows the operator as (a
// SelfSubjectReview, what `kubectl auth whoami` asks), else the
// kubeconfig's user, else the login name.
func (o *Options) whoAmI(ctx context.Context, c *kube.Clients) string {
	review, err := c.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username
	}
	if raw, err := o.Flags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		ctxName := raw.CurrentContext
		if o.Flags.Context != nil && *o.Flags.Context != "" {
			ctxName = *o.Flags.Context
		}
		if kc := raw.Contexts[ctxName]; kc != nil && kc.AuthInfo != "" {
			return kc.AuthInfo
		}
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
