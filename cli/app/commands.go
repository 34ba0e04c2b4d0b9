package app

import (
	ucli "github.com/urfave/cli/v2"
)

// commands lists every command group, one line each.
func commands() []*ucli.Command {
	return []*ucli.Command{}
}
