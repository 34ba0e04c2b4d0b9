// Package status is `hbctl status`: agents, connections, rates, results,
// latencies and envelopes, once or redrawn every second (--watch), as text
// or as the stable JSON of coordinator/api.Status (--json).
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/client"
)

// Command returns `hbctl status`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show agents, connections, rates, results and latencies",
		Description: "Latencies are merged HdrHistograms over all agents (never averages), from\n" +
			"the intended fire time. 'last' is the newest complete second; 'run' is\n" +
			"everything since the coordinator started.\n\n" +
			"--json prints the coordinator's status document (see docs/guide.md), including\n" +
			"\"seconds\": the last 120 complete seconds with target, sent (by intended\n" +
			"second), received and p99_ms. With --watch it prints one JSON document a line.",
		Flags: append(common.Flags(),
			&ucli.BoolFlag{Name: "watch", Aliases: []string{"w"}, EnvVars: []string{"HBCTL_WATCH"}, Usage: "redraw every second until interrupted"},
			&ucli.DurationFlag{Name: "interval", Value: time.Second, EnvVars: []string{"HBCTL_WATCH_INTERVAL"}, Usage: "with --watch, redraw every `DURATION`"},
			common.JSONFlag(),
		),
		Action: func(c *ucli.Context) error {
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			o := options{watch: c.Bool("watch"), interval: c.Duration("interval"), json: c.Bool(common.FlagJSON)}
			return common.Exit(run(c.Context, cl, o, c.App.Writer))
		},
	}
}

type options struct {
	watch    bool
	interval time.Duration
	json     bool
}

func run(ctx context.Context, cl *client.Client, o options, w io.Writer) error {
	if !o.watch {
		return once(ctx, cl, o, w, false)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := isTTY(w) && !o.json
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		if err := once(ctx, cl, o, w, clear); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func once(ctx context.Context, cl *client.Client, o options, w io.Writer, clear bool) error {
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if o.json {
		if o.watch {
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", b)
			return err
		}
		return common.PrintJSON(w, st)
	}
	if clear {
		fmt.Fprint(w, "\033[H\033[2J")
	} else if o.watch {
		fmt.Fprintln(w)
	}
	return Render(w, st)
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
