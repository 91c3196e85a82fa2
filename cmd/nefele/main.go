// Command nefele is the Nefele command line; see docs/cli.md.
package main

import (
	"os"

	"github.com/nefele/nefele/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
