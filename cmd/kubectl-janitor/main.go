// Command kubectl-janitor is `kubectl janitor`: kubectl runs an executable
// named kubectl-<name> found on PATH as `kubectl <name>`. Its commands live
// in lib/janitorctl, which the demo runs too.
package main

import (
	"context"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/akash-janitor/akash-janitor/lib/janitorctl"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(janitorctl.Execute(context.Background(), janitorctl.NewCommand(streams), os.Args[1:], os.Stderr))
}
