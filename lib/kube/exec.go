package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// ExecResult is what a command run in a container wrote, and how it ended.
type ExecResult struct {
	Stdout, Stderr []byte
	// ExitCode is the command's exit status; meaningful when Exec returned
	// no error.
	ExitCode int
}

// Exec runs argv in a container of a pod through the API server's
// pods/exec subresource (SPDY, POST: the `create` verb on pods/exec is all
// it needs), with stdin when not nil. A command that ran and exited
// non-zero is not an error: see ExitCode. An error is a command that did
// not run or whose stream broke.
func Exec(ctx context.Context, cfg *rest.Config, namespace, pod, container string, argv []string, stdin []byte) (ExecResult, error) {
	var res ExecResult
	if len(argv) == 0 {
		return res, errors.New("exec: empty command")
	}
	core := rest.CopyConfig(cfg)
	core.APIPath = "/api"
	core.GroupVersion = &corev1.SchemeGroupVersion
	core.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	client, err := rest.RESTClientFor(core)
	if err != nil {
		return res, fmt.Errorf("pods/exec client: %w", err)
	}
	req := client.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   argv,
			Stdin:     stdin != nil,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	executor, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		return res, fmt.Errorf("pods/exec %s/%s: %w", namespace, pod, err)
	}
	var stdout, stderr bytes.Buffer
	opts := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	err = executor.StreamWithContext(ctx, opts)
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	var exit utilexec.CodeExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.Code
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("exec in %s/%s container %s: %w", namespace, pod, container, err)
	}
	return res, nil
}
