// Package app assembles the hbctl command tree. Each command group lives in
// its own package under cli/commands and exports its *cli.Command; this
// package only lists them. Nothing imports cli.
package app

import (
	"errors"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
)

// Version is set at build time with -ldflags "-X .../cli/app.Version=...".
var Version = "dev"

// New returns the hbctl application.
func New() *ucli.App {
	app := &ucli.App{
		Name:    "hbctl",
		Usage:   "load-test and verify long-connection red-envelope services",
		Version: Version,
		Description: "hbctl drives many agents holding user connections against a red-envelope\n" +
			"server, fires clock-aligned SHAKE load, and reconciles every envelope and\n" +
			"every cent on both sides. Start with 'hbctl demo'.",
		EnableBashCompletion: true,
		Commands:             commands(),
		// Errors are printed once by main, with the exit code they carry.
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError:   common.OnUsageError,
	}
	usageErrors(app.Commands)
	return app
}

// usageErrors makes every command's flag errors usage errors (exit 2),
// unless the command says otherwise.
func usageErrors(cmds []*ucli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = common.OnUsageError
		}
		usageErrors(c.Subcommands)
	}
}

// ExitCode is the process exit code for an error returned by Run: the code
// of a cli.ExitCoder (verify ledger's 1 and 2), otherwise 1.
func ExitCode(err error) int {
	var ec ucli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
