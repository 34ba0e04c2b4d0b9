// Package disconnect is `hbctl disconnect`: every agent closes its user
// connections and the plan ends.
package disconnect

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
)

// Command returns `hbctl disconnect`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "disconnect",
		Usage: "close every user connection and end the plan",
		Flags: append(common.Flags(), common.JSONFlag()),
		Action: func(c *ucli.Context) error {
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			resp, err := cl.Disconnect(c.Context)
			if err != nil {
				return common.Exit(err)
			}
			if c.Bool(common.FlagJSON) {
				return common.PrintJSON(c.App.Writer, resp)
			}
			fmt.Fprintf(c.App.Writer, "plan %d ended; %d live agents closing their connections\n", resp.PlanID, resp.Agents)
			return nil
		},
	}
}
