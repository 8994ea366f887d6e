// onlyimagematch links lib/imagematch and nothing else of ours: it parses
// the references it is given, an image reference or an image ID each, and
// prints them normalized.
package main

import (
	"fmt"
	"os"

	"github.com/akash-janitor/akash-janitor/lib/imagematch"
)

func main() {
	for _, arg := range os.Args[1:] {
		img, err := imagematch.ParseImageID(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(img.Normalized)
	}
}
