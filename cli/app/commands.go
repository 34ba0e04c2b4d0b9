package app

import (
	ucli "github.com/urfave/cli/v2"

	agentcmd "github.com/hbctl/hbctl/cli/commands/agent"
	connectcmd "github.com/hbctl/hbctl/cli/commands/connect"
	coordinatorcmd "github.com/hbctl/hbctl/cli/commands/coordinator"
	democmd "github.com/hbctl/hbctl/cli/commands/demo"
	disconnectcmd "github.com/hbctl/hbctl/cli/commands/disconnect"
	qpscmd "github.com/hbctl/hbctl/cli/commands/qps"
	reportcmd "github.com/hbctl/hbctl/cli/commands/report"
	runcmd "github.com/hbctl/hbctl/cli/commands/run"
	sendcmd "github.com/hbctl/hbctl/cli/commands/send"
	servercmd "github.com/hbctl/hbctl/cli/commands/server"
	shakecmd "github.com/hbctl/hbctl/cli/commands/shake"
	statuscmd "github.com/hbctl/hbctl/cli/commands/status"
	verifycmd "github.com/hbctl/hbctl/cli/commands/verify"
)

// commands lists every command group, one line each.
func commands() []*ucli.Command {
	return []*ucli.Command{
		servercmd.Command(),
		coordinatorcmd.Command(),
		agentcmd.Command(),
		connectcmd.Command(),
		qpscmd.Command(),
		shakecmd.Command(),
		sendcmd.Command(),
		statuscmd.Command(),
		disconnectcmd.Command(),
		reportcmd.Command(),
		runcmd.Command(),
		democmd.Command(),
		verifycmd.Command(),
		docsCommand(),
	}
}
