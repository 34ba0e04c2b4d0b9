// Package app assembles the hbctl command tree. Each command group lives in
// its own package under cli/commands and exports its *cli.Command; this
// package only lists them. Nothing imports cli.
package app

import (
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// ExitUsage is the exit code of every usage error: a flag that does not
// parse, a required flag missing, an unknown command, a bad value.
const ExitUsage = 2

// Version is set at build time with -ldflags "-X .../cli/app.Version=...".
var Version = "dev"

// New returns the hbctl application.
func New() *ucli.App {
	a := &ucli.App{
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
		OnUsageError:   usageError,
		Action:         helpOrUnknown,
	}
	usageEverywhere(a.Commands)
	return a
}

// usageError makes a flag that does not parse exit 2 in every command.
func usageError(c *ucli.Context, err error, _ bool) error {
	return ucli.Exit(fmt.Sprintf("%v (see --help)", err), ExitUsage)
}

// helpOrUnknown shows the help of a command group, or refuses an unknown
// command name with a usage error.
func helpOrUnknown(c *ucli.Context) error {
	if c.Args().Present() {
		return ucli.Exit(fmt.Sprintf("unknown command %q (see --help)", c.Args().First()), ExitUsage)
	}
	return ucli.ShowAppHelp(c)
}

// usageEverywhere gives every command the same usage errors as the app.
func usageEverywhere(cmds []*ucli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = func(ctx *ucli.Context) error {
				if ctx.Args().Present() {
					return ucli.Exit(fmt.Sprintf("unknown command %q (see --help)", ctx.Args().First()), ExitUsage)
				}
				return ucli.ShowSubcommandHelp(ctx)
			}
		}
		requireAsUsage(c)
		usageEverywhere(c.Subcommands)
	}
}

// requireAsUsage checks c's required flags itself, so that a missing one is
// a usage error (exit 2) like any other: urfave/cli's own check returns an
// error that carries no exit code.
func requireAsUsage(c *ucli.Command) {
	var names []string
	for _, f := range c.Flags {
		rf, ok := f.(ucli.RequiredFlag)
		if !ok || !rf.IsRequired() {
			continue
		}
		switch f := f.(type) {
		case *ucli.StringFlag:
			f.Required = false
		case *ucli.StringSliceFlag:
			f.Required = false
		case *ucli.IntFlag:
			f.Required = false
		case *ucli.Int64Flag:
			f.Required = false
		case *ucli.DurationFlag:
			f.Required = false
		default:
			continue // left to urfave/cli
		}
		names = append(names, f.Names()[0])
	}
	if len(names) == 0 {
		return
	}
	before := c.Before
	c.Before = func(ctx *ucli.Context) error {
		var missing []string
		for _, n := range names {
			if !ctx.IsSet(n) {
				missing = append(missing, "--"+n)
			}
		}
		if len(missing) > 0 {
			return ucli.Exit(fmt.Sprintf("required flag %s not set (see --help)", strings.Join(missing, ", ")), ExitUsage)
		}
		if before != nil {
			return before(ctx)
		}
		return nil
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
