// Package qps is `hbctl qps set|get`: the global SHAKE rate of the plan.
package qps

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// Command returns `hbctl qps`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "qps",
		Usage: "set or show the global SHAKE rate",
		Subcommands: []*ucli.Command{
			{
				Name:      "set",
				Usage:     "fire exactly Q SHAKEs a second over all agents, from a whole second on",
				ArgsUsage: "Q",
				Description: "Appends a rate segment at the first whole second at least --at ahead; every\n" +
					"agent switches in that same second. Prints the effective instant.\n\n" +
					"Examples:\n  hbctl qps set 30000\n  hbctl qps set 60000 --at +10s\n  hbctl qps set 0 --at 2026-01-28T20:00:00+08:00",
				Flags: append(common.Flags(),
					&ucli.StringFlag{Name: "at", Value: "+2s", EnvVars: []string{"HBCTL_QPS_AT"},
						Usage: "when: `+DURATION` from now or an RFC3339 instant (rounded up to a whole second, at least 500ms ahead)"},
					common.JSONFlag(),
				),
				OnUsageError: func(c *ucli.Context, err error, sub bool) error {
					if v, ok := common.NegativeNumber(err); ok {
						return common.Usage("rate %s: want a non-negative integer (0 to %d)", v, schedule.MaxRate)
					}
					return common.OnUsageError(c, err, sub)
				},
				Action: func(c *ucli.Context) error {
					args, err := common.Args(c)
					if err != nil {
						return err
					}
					if len(args) != 1 {
						return common.Usage("qps set takes exactly one argument, the rate Q (got %d)", len(args))
					}
					q, err := strconv.ParseInt(args[0], 10, 64)
					if err != nil || schedule.CheckRate(q) != nil {
						return common.Usage("rate %s: want a non-negative integer (0 to %d)", args[0], schedule.MaxRate)
					}
					req, err := parseAt(c.String("at"), time.Now())
					if err != nil {
						return common.Usage("--at: %v", err)
					}
					req.Q = q
					cl, err := common.Client(c)
					if err != nil {
						return err
					}
					return common.Exit(set(c.Context, cl, req, c.Bool(common.FlagJSON), c.App.Writer))
				},
			},
			{
				Name:  "get",
				Usage: "print the rate in force and the scheduled changes",
				Flags: append(common.Flags(), common.JSONFlag()),
				Action: func(c *ucli.Context) error {
					cl, err := common.Client(c)
					if err != nil {
						return err
					}
					return common.Exit(get(c.Context, cl, c.Bool(common.FlagJSON), c.App.Writer))
				},
			},
		},
	}
}

// parseAt reads --at: "+2s" or an RFC3339 instant.
func parseAt(s string, now time.Time) (api.QPSRequest, error) {
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return api.QPSRequest{}, err
		}
		return api.QPSRequest{DelayMillis: max(d.Milliseconds(), 1)}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return api.QPSRequest{}, fmt.Errorf("want +DURATION or RFC3339: %w", err)
	}
	if !t.After(now) {
		return api.QPSRequest{}, fmt.Errorf("%s is in the past", s)
	}
	return api.QPSRequest{AtMillis: t.UnixMilli()}, nil
}

func set(ctx context.Context, cl *client.Client, req api.QPSRequest, asJSON bool, w io.Writer) error {
	resp, err := cl.SetQPS(ctx, req)
	if err != nil {
		return err
	}
	if asJSON {
		return common.PrintJSON(w, resp)
	}
	at := time.Unix(resp.Effective, 0)
	fmt.Fprintf(w, "qps %d from %s (unix %d, in %s)\n", req.Q, at.UTC().Format(time.RFC3339), resp.Effective,
		at.Sub(time.UnixMilli(resp.Now)).Round(time.Millisecond))
	return nil
}

func get(ctx context.Context, cl *client.Client, asJSON bool, w io.Writer) error {
	resp, err := cl.QPS(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return common.PrintJSON(w, resp)
	}
	if resp.PlanID == 0 {
		fmt.Fprintln(w, "no plan: run hbctl connect first")
		return nil
	}
	fmt.Fprintf(w, "plan %d: %d/s now\n", resp.PlanID, resp.Current)
	now := resp.Now / 1000
	for _, s := range resp.Segments {
		when := "since"
		if s.T > now {
			when = "from "
		}
		fmt.Fprintf(w, "  %s %s  %d/s\n", when, time.Unix(s.T, 0).UTC().Format(time.RFC3339), s.Q)
	}
	return nil
}
