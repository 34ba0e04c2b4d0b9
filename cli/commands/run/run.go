// Package run is `hbctl run SCENARIO.yaml`: it runs a declarative scenario
// (coordinator/scenario) through the coordinator and exits with the
// verdict of its thresholds.
package run

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
	"github.com/hbctl/hbctl/coordinator/scenario"
)

// ExitInterrupted is the exit code after SIGINT or SIGTERM.
const ExitInterrupted = 130

// Command returns `hbctl run`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:      "run",
		Usage:     "run a scenario file: connect, timed qps/shake/send steps, verify, thresholds",
		ArgsUsage: "SCENARIO.yaml",
		Description: "Connects the scenario's users, runs its steps in order (qps, shake, send, wait,\n" +
			"wait_until, verify, disconnect) and evaluates its thresholds on the histograms\n" +
			"and counters merged over every agent. Prints a progress line while it runs and\n" +
			"every threshold with its measured value at the end.\n\n" +
			"Exit: 0 every threshold passed; 1 a threshold failed or verify found\n" +
			"discrepancies; 2 bad scenario, could not run or could not verify; 3 token;\n" +
			"4 coordinator unreachable; 130 interrupted.\n\n" +
			"Example:\n  hbctl run scripts/scenarios/local.yaml --server 127.0.0.1:1025 \\\n" +
			"      --admin http://127.0.0.1:8989 --admin-token-file srv/admin-token",
		Flags: append(common.Flags(),
			&ucli.StringSliceFlag{Name: "server", EnvVars: []string{"HBCTL_SERVER"},
				Usage: "wire `ADDR` of a target server, replacing the scenario's (repeat for several)"},
			&ucli.StringSliceFlag{Name: "admin", EnvVars: []string{"HBCTL_ADMIN"},
				Usage: "admin API `URL` of a target server, in --server order, replacing the scenario's"},
			&ucli.StringSliceFlag{Name: "admin-token", EnvVars: []string{"HBCTL_ADMIN_TOKEN"},
				Usage: "admin `TOKEN` (one for all --admin, or one per --admin in order)"},
			&ucli.StringSliceFlag{Name: "admin-token-file", EnvVars: []string{"HBCTL_ADMIN_TOKEN_FILE"},
				Usage: "read the admin token from `FILE`, a local server's DATA-DIR/admin-token (one for all --admin, or one per --admin in order)"},
			&ucli.IntFlag{Name: "users", EnvVars: []string{"HBCTL_USERS"}, Usage: "`N` users instead of the scenario's"},
			&ucli.Int64Flag{Name: "qps", EnvVars: []string{"HBCTL_QPS"},
				Usage: "scale the qps steps so the first non-zero one is `Q` (the others keep their ratio)"},
		),
		Action: func(c *ucli.Context) error {
			args, err := common.Args(c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return common.Usage("usage: hbctl run SCENARIO.yaml (got %d arguments)", len(args))
			}
			sc, err := scenario.Load(args[0])
			if err != nil {
				return common.Usage("%v", err)
			}
			sc.Apply(scenario.Overrides{
				Servers: c.StringSlice("server"), Admins: c.StringSlice("admin"),
				AdminTokens: c.StringSlice("admin-token"), AdminTokenFiles: c.StringSlice("admin-token-file"),
				Users: c.Int("users"), QPS: c.Int64("qps"),
			})
			if err := sc.Check(); err != nil {
				return common.Usage("%v", err)
			}
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			admins, err := common.HTTPClient(c, 10*time.Second)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runScenario(ctx, cl, admins, sc, c.App.Writer)
		},
	}
}

// runScenario runs sc against the coordinator behind cl, prints the summary
// to w and returns the exit error its verdict deserves.
func runScenario(ctx context.Context, cl *client.Client, admins *http.Client, sc *scenario.Scenario, w io.Writer) error {
	res, err := scenario.Run(ctx, sc, scenario.Config{
		Control: cl,
		HTTP:    admins,
		Verify:  scenario.CoordinatorVerify(cl, api.VerifyRequest{}),
		Out:     w,
		TTY:     isTTY(w),
	})
	if err != nil {
		return runError(err)
	}
	res.WriteSummary(w)
	switch code := res.ExitCode(); code {
	case scenario.ExitPassed:
		return nil
	case scenario.ExitUnverified:
		return ucli.Exit("could not verify the ledgers", code)
	default:
		return ucli.Exit("scenario failed: "+strings.Join(res.Failures(), "; "), code)
	}
}

// runError maps an error that kept the scenario from running: the token
// and reachability codes of every control command, 2 for the rest (a bad
// scenario, a step the coordinator or a server refused, a wait that timed
// out).
func runError(err error) error {
	switch {
	case errors.Is(err, common.ErrNoToken), errors.Is(err, client.ErrUnauthorized):
		return common.Exit(err)
	case errors.Is(err, context.Canceled):
		return ucli.Exit("interrupted: "+err.Error(), ExitInterrupted)
	}
	var ae *client.APIError
	if ec, ok := common.Exit(err).(ucli.ExitCoder); ok && ec.ExitCode() == common.ExitUnreachable && !errors.As(err, &ae) {
		return ec
	}
	return ucli.Exit(err.Error(), common.ExitUsage)
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
