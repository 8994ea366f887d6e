// Command chartdoc writes charts/akash-janitor/README.md from the comments
// of its values.yaml (make chart-docs); the charts tests fail when the
// README is not what it would write.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/akash-janitor/akash-janitor/charts/charttest"
)

func main() {
	dir := charttest.ChartDir()
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err == nil {
		var doc string
		if doc, err = charttest.ValuesDoc(values); err == nil {
			err = os.WriteFile(filepath.Join(dir, "README.md"), []byte(doc), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chartdoc:", err)
		os.Exit(1)
	}
}
