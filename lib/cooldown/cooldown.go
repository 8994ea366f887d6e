// Package cooldown keeps, in one ConfigMap, when an action was last taken,
// so that it is taken at most once per period whatever the number of runs
// and jobs: a restart of the provider, say, at most once an hour. The
// record is read and written with the API server's optimistic concurrency
// (the update carries the resourceVersion it read), so two runs at once
// cannot both take it. A record that is missing or does not parse takes
// nothing: a job that cannot tell when it last acted does not act.
package cooldown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// Key is the record's data key.
const Key = "last"

// Taken is one time the action was taken.
type Taken struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
	Job  string    `json:"job"`
}

// Record is the cool-down of one action, kept in the ConfigMap
// Namespace/Name.
type Record struct {
	Client          kubernetes.Interface
	Namespace, Name string
	// Period is the least time between two takes.
	Period time.Duration
	// Flag names the option that sets Period, for messages.
	Flag string
	// Job names the taker in the record.
	Job string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// ErrRecord marks a record that is missing or cannot be read, parsed or
// written: the action is not taken.
var ErrRecord = errors.New("cool-down record")

func (r *Record) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Record) ref() string { return r.Namespace + "/" + r.Name }

// Last returns when the action was last taken (nil: never).
func (r *Record) Last(ctx context.Context) (*Taken, error) {
	_, last, err := r.read(ctx)
	return last, err
}

// Read returns when the action was last taken (nil: never) and the
// record's notes: its other keys, which the job keeps beside it (what it
// saw that leads to the action).
func (r *Record) Read(ctx context.Context) (*Taken, map[string]string, error) {
	cm, last, err := r.read(ctx)
	if err != nil {
		return nil, nil, err
	}
	notes := map[string]string{}
	for k, v := range cm.Data {
		if k != Key {
			notes[k] = v
		}
	}
	return last, notes, nil
}

// Note writes a note (any key but Key; value "" removes it), with the
// API server's optimistic concurrency as Take.
func (r *Record) Note(ctx context.Context, key, value string) error {
	if key == Key {
		return fmt.Errorf("%w %s: %q is the record's own key, not a note", ErrRecord, r.ref(), key)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, _, err := r.read(ctx)
		if err != nil {
			return err
		}
		if cm.Data[key] == value {
			return nil
		}
		return kube.WriteKey(ctx, r.Client, cm, key, value, "akash-janitor/"+r.Job)
	})
	if err != nil && !errors.Is(err, ErrRecord) {
		return fmt.Errorf("%w %s: the note %q cannot be written: %v", ErrRecord, r.ref(), key, err)
	}
	return err
}

// Held says why the action may not be taken at now after last, "" when it
// may.
func (r *Record) Held(last *Taken, now time.Time) string {
	if last == nil {
		return ""
	}
	ago := now.Sub(last.At)
	if ago >= r.Period {
		return ""
	}
	return fmt.Sprintf("last done %s ago (%s, by %s), at most once per %s=%s: the next may be at %s",
		ago.Round(time.Second), last.At.UTC().Format(time.RFC3339), last.Job, r.Flag, r.Period, last.At.Add(r.Period).UTC().Format(time.RFC3339))
}

// Take records the action as taken now, if the period has passed since
// the last take. held says why not, when not; an error (wrapping
// ErrRecord) takes nothing.
func (r *Record) Take(ctx context.Context, what string) (held string, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, last, err := r.read(ctx)
		if err != nil {
			return err
		}
		now := r.now()
		if held = r.Held(last, now); held != "" {
			return nil
		}
		raw, err := json.Marshal(Taken{At: now.UTC(), What: what, Job: r.Job})
		if err != nil {
			return err
		}
		// If another run took the action since this one read the record,
		// the update is refused (409) and the record read again, which
		// then holds.
		return kube.WriteKey(ctx, r.Client, cm, Key, string(raw), "akash-janitor/"+r.Job)
	})
	if err != nil && !errors.Is(err, ErrRecord) {
		return "", fmt.Errorf("%w %s cannot be written, so nothing is done: %v", ErrRecord, r.ref(), err)
	}
	return held, err
}

func (r *Record) read(ctx context.Context) (*corev1.ConfigMap, *Taken, error) {
	cm, err := r.Client.CoreV1().ConfigMaps(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("%w %s is missing, so nothing is done (helm upgrade makes it again; or kubectl -n %s create configmap %s)", ErrRecord, r.ref(), r.Namespace, r.Name)
	case err != nil:
		return nil, nil, fmt.Errorf("%w %s cannot be read, so nothing is done: %v", ErrRecord, r.ref(), err)
	}
	raw := strings.TrimSpace(cm.Data[Key])
	if raw == "" {
		return cm, nil, nil
	}
	var last Taken
	if err := json.Unmarshal([]byte(raw), &last); err != nil || last.At.IsZero() {
		why := "it has no time"
		if err != nil {
			why = err.Error()
		}
		return nil, nil, fmt.Errorf("%w %s: key %q is not a record of the last time (%s), so nothing is done; delete the key to start again", ErrRecord, r.ref(), Key, why)
	}
	return cm, &last, nil
}
