package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// bidPrice prices an order as the provider's bid price script would, then
// checks which GPUs of the nodes have no price mapping.
func (d *demo) bidPrice() error {
	env := []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir(),
		"PRICE_TARGET_GPU_MAPPINGS=a100=900,a100.80Gi=1100,t4=80", "AKT_PRICE_USD=2.50"}
	order := `{"price":{"denom":"uakt","amount":"5000"},"price_precision":6,"resources":[` +
		`{"cpu":8000,"memory":68719476736,"count":1,"storage":[{"class":"ephemeral","size":214748364800}],"endpoint_quantity":1,` +
		`"gpu":{"units":2,"attributes":{"vendor":{"nvidia":{"model":"a100","ram":"80Gi"}}}}}]}`
	say("bid-price: the provider's bid pricing, same answers as its script. GPU mappings\n" +
		"a100=900,a100.80Gi=1100,t4=80 (USD a month), AKT at 2.50 USD. An order for 8 CPUs, 64 GiB,\n" +
		"200 GiB of disk and two A100 80Gi, max 5000uakt a block:")
	run := func(bin, stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(d.ctx, filepath.Join(d.bin, bin), args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	out, err := run("bid-price-script", order)
	if err != nil {
		return fmt.Errorf("bid-price-script: %v\n%s", err, out)
	}
	fmt.Printf("   $ bid-price-script < order.json     (the drop-in for price_script_generic.sh)\n     %s uakt a block   (12.80 + 51.20 + 4.00 + 0.05 + 2 x 1100 = 2268.05 USD a month)\n", out)
	out, err = run("bid-price-script", strings.Replace(order, `"5000"`, `"1000"`, 1))
	fmt.Printf("   the same order, max 1000uakt a block:\n     exit %v: %s\n", exitCode(err), out)
	say("bid-price audit: GPUs on the nodes no mapping covers (their orders get the fallback price):")
	out, _ = run("bid-price", "", "audit", "--kubeconfig", d.cluster.KubeconfigPath, "--namespace", "default", "--from-env")
	fmt.Printf("   $ bid-price audit --from-env\n     %s", out)
	return nil
}

func exitCode(err error) int {
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
