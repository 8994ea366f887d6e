package leaseclose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/lib/kube"
)

// LocalRunner runs the CLI in the job's own container (the cli closer),
// with an environment of its own: HOME and PATH only, so no AKASH_*
// variable of the container changes what the command does.
type LocalRunner struct {
	// Home is the CLI's HOME (the OS's temp directory if empty).
	Home string
}

func (LocalRunner) Backend() string { return "cli" }

func (r LocalRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, []byte, error) {
	if len(argv) == 0 {
		return nil, nil, errors.New("empty command")
	}
	home := r.Home
	if home == "" {
		home = os.TempDir()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return stdout.Bytes(), stderr.Bytes(), &ExitError{Code: exit.ExitCode(), Stderr: stderr.String()}
	}
	if errors.Is(err, fs.ErrNotExist) && strings.Contains(argv[0], "/") {
		if _, serr := os.Stat(argv[0]); serr == nil {
			// The file is there but the kernel found no loader for it.
			err = fmt.Errorf("%w: %s exists but cannot start: a dynamically linked build whose loader or C library this image lacks (the janitor images have none: use a static build of the CLI, or the tx or exec closer)", err, argv[0])
		}
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// PodExecRunner runs the CLI inside a container of a running pod through
// the API server's pods/exec (the exec closer: the runbook's way, with the
// key never leaving the provider pod). It needs `create` on pods/exec for
// that one pod name, nothing else.
type PodExecRunner struct {
	Config                    *rest.Config
	Namespace, Pod, Container string
}

func (PodExecRunner) Backend() string { return "exec" }

func (r PodExecRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, []byte, error) {
	res, err := kube.Exec(ctx, r.Config, r.Namespace, r.Pod, r.Container, argv, stdin)
	if err == nil && res.ExitCode != 0 {
		err = &ExitError{Code: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return res.Stdout, res.Stderr, err
}
