// Command hbctl load-tests and verifies long-connection red-envelope
// services. See README.md and docs/.
package main

import (
	"fmt"
	"os"

	"github.com/hbctl/hbctl/cli/app"
)

func main() {
	if err := app.New().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "hbctl:", err)
		os.Exit(app.ExitCode(err))
	}
}
