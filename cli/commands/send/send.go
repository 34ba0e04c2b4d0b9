// Package send is `hbctl send`: the target servers send envelopes to
// random connected users, who OPEN them.
package send

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
)

// Command returns `hbctl send`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "send",
		Usage: "make the servers send envelopes to random connected users",
		Description: "Forwarded by the coordinator to every target server's admin API; rate and\n" +
			"total are split so that their sums are exact.\n\n" +
			"Example:\n  hbctl send --rate 200 --total 20000 --recipients 3",
		Flags: append(common.Flags(),
			&ucli.IntFlag{Name: "rate", Value: 200, EnvVars: []string{"HBCTL_SEND_RATE"}, Usage: "envelopes sent per `SECOND`, over all servers"},
			&ucli.IntFlag{Name: "total", Value: 20000, EnvVars: []string{"HBCTL_SEND_TOTAL"}, Usage: "`N` envelopes in all"},
			&ucli.IntFlag{Name: "recipients", Value: 3, EnvVars: []string{"HBCTL_SEND_RECIPIENTS"}, Usage: "`K` recipients per envelope, 1..3"},
			&ucli.IntFlag{Name: "min-amount", EnvVars: []string{"HBCTL_SEND_MIN_AMOUNT"}, Usage: "least amount in `CENTS` (0: server default)"},
			&ucli.IntFlag{Name: "max-amount", EnvVars: []string{"HBCTL_SEND_MAX_AMOUNT"}, Usage: "largest amount in `CENTS` (0: server default)"},
			common.JSONFlag(),
		),
		Action: func(c *ucli.Context) error {
			req := api.SendRequest{Rate: c.Int("rate"), Total: c.Int("total"), Recipients: c.Int("recipients"),
				MinAmount: c.Int("min-amount"), MaxAmount: c.Int("max-amount")}
			if req.Rate <= 0 || req.Total <= 0 {
				return common.Usage("--rate and --total must be positive")
			}
			if req.Recipients < 1 || req.Recipients > 3 {
				return common.Usage("--recipients must be 1..3")
			}
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			resp, err := cl.Send(c.Context, req)
			return common.Exit(common.PrintForward(c.App.Writer, "send", resp, err, c.Bool(common.FlagJSON)))
		},
	}
}
