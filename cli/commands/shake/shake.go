// Package shake is `hbctl shake`: the target servers release shake
// envelopes at a rate, the total split exactly over the servers.
package shake

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
)

// Command returns `hbctl shake`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "shake",
		Usage: "make the servers release shake envelopes (SHAKEs then win them)",
		Description: "Forwarded by the coordinator to every target server's admin API (given at\n" +
			"connect); rate and total are split so that their sums are exact.\n\n" +
			"Example:\n  hbctl shake --rate 200 --total 40000",
		Flags: append(common.Flags(),
			&ucli.IntFlag{Name: "rate", Value: 200, EnvVars: []string{"HBCTL_SHAKE_RATE"}, Usage: "envelopes released per `SECOND`, over all servers"},
			&ucli.IntFlag{Name: "total", Value: 40000, EnvVars: []string{"HBCTL_SHAKE_TOTAL"}, Usage: "`N` envelopes in all"},
			&ucli.IntFlag{Name: "min-amount", EnvVars: []string{"HBCTL_SHAKE_MIN_AMOUNT"}, Usage: "least amount in `CENTS` (0: server default, 10)"},
			&ucli.IntFlag{Name: "max-amount", EnvVars: []string{"HBCTL_SHAKE_MAX_AMOUNT"}, Usage: "largest amount in `CENTS` (0: server default, 309)"},
			common.JSONFlag(),
		),
		Action: func(c *ucli.Context) error {
			req := api.ShakeRequest{Rate: c.Int("rate"), Total: c.Int("total"), MinAmount: c.Int("min-amount"), MaxAmount: c.Int("max-amount")}
			if req.Rate <= 0 || req.Total <= 0 {
				return common.Usage("--rate and --total must be positive")
			}
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			resp, err := cl.Shake(c.Context, req)
			return common.Exit(common.PrintForward(c.App.Writer, "shake", resp, err, c.Bool(common.FlagJSON)))
		},
	}
}
