// Package connect is `hbctl connect`: it checks the targets, asks the
// coordinator to split users over the live agents and, with --wait,
// follows the logins, stopping with the cause when a server refuses
// connections at its limit.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
)

// Command returns `hbctl connect`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "connect",
		Usage: "connect users 0..N-1 through the live agents (rate 0 until 'qps set')",
		Description: "Splits uids 0..N-1 over the live agents in proportion to their capacity and\n" +
			"hands each agent its users and a plan at rate 0. Fails before doing anything\n" +
			"when N exceeds the agents' total capacity, saying by how much.\n\n" +
			"Example:\n  hbctl connect --server 127.0.0.1:1025 --admin http://127.0.0.1:8989 \\\n" +
			"      --server-data-dir ./srv --users 3000 --wait",
		Flags: append(common.Flags(),
			&ucli.StringSliceFlag{Name: "server", EnvVars: []string{"HBCTL_SERVER"}, Required: true,
				Usage: "wire `ADDR` of a target server (repeat for several; user u goes to server u mod count)"},
			&ucli.StringSliceFlag{Name: "admin", EnvVars: []string{"HBCTL_ADMIN"},
				Usage: "admin API `URL` of a target server, for shake, send and verify (one per --server, in order; \"none\" for a server without admin API)"},
			&ucli.StringSliceFlag{Name: "admin-token", EnvVars: []string{"HBCTL_ADMIN_TOKEN"},
				Usage: "admin `TOKEN` (one for all --admin, or one per --admin)"},
			&ucli.StringSliceFlag{Name: "server-data-dir", EnvVars: []string{"HBCTL_SERVER_DATA_DIR"},
				Usage: "data `DIR` of a local server, to read its admin-token from (one for all, or one per --admin)"},
			&ucli.IntFlag{Name: "users", EnvVars: []string{"HBCTL_USERS"}, Required: true, Usage: "`N` users: uids 0..N-1"},
			&ucli.IntFlag{Name: "rate", EnvVars: []string{"HBCTL_CONNECT_TOTAL_RATE"}, Usage: "logins per second over all agents (0: agents' default, 20000 each)"},
			&ucli.BoolFlag{Name: "wait", EnvVars: []string{"HBCTL_WAIT"}, Usage: "follow the logins until all are established"},
			&ucli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, EnvVars: []string{"HBCTL_CONNECT_TIMEOUT"},
				Usage: "with --wait, fail (exit 1) if not all users are established by then"},
			common.JSONFlag(),
		),
		Action: func(c *ucli.Context) error {
			opts, err := parse(c)
			if err != nil {
				return err
			}
			cl, err := common.Client(c)
			if err != nil {
				return err
			}
			return common.Exit(run(c.Context, cl, opts, c.App.Writer))
		},
	}
}

// noAdmin is the --admin of a server without admin API.
const noAdmin = "none"

type options struct {
	req     api.ConnectRequest
	wait    bool
	timeout time.Duration
	json    bool
}

func parse(c *ucli.Context) (options, error) {
	o := options{wait: c.Bool("wait"), timeout: c.Duration("timeout"), json: c.Bool(common.FlagJSON)}
	o.req.Servers = c.StringSlice("server")
	o.req.Users = c.Int("users")
	o.req.Rate = c.Int("rate")
	if o.req.Users <= 0 || o.req.Users > api.MaxUsers {
		return o, common.Usage("--users %d: must be 1 to %d", o.req.Users, api.MaxUsers)
	}
	if o.req.Rate < 0 || o.req.Rate > api.MaxConnectRate {
		return o, common.Usage("--rate %d: must be 0 to %d", o.req.Rate, api.MaxConnectRate)
	}
	for _, s := range o.req.Servers {
		if err := api.CheckHostPort(s); err != nil {
			return o, common.Usage("--server %v", err)
		}
	}
	admins := c.StringSlice("admin")
	if len(admins) > 0 && len(admins) != len(o.req.Servers) {
		return o, common.Usage("--admin: %d given for %d --server: give one per server, in --server order (\"none\" for a server without admin API), or none at all", len(admins), len(o.req.Servers))
	}
	for _, u := range admins {
		if u == noAdmin {
			continue
		}
		if err := api.CheckBaseURL(u); err != nil {
			return o, common.Usage("--admin %v", err)
		}
	}
	for _, t := range c.StringSlice("admin-token") {
		if err := api.CheckToken(t); err != nil {
			return o, common.Usage("--admin-token: %v", err)
		}
	}
	tokens := c.StringSlice("admin-token")
	dirs := c.StringSlice("server-data-dir")
	if len(tokens) > 1 && len(tokens) != len(admins) {
		return o, common.Usage("give one --admin-token for all or one per --admin (%d tokens, %d admins)", len(tokens), len(admins))
	}
	if len(dirs) > 1 && len(dirs) != len(admins) {
		return o, common.Usage("give one --server-data-dir for all or one per --admin (%d dirs, %d admins)", len(dirs), len(admins))
	}
	for i, u := range admins {
		a := api.Admin{URL: u}
		switch {
		case u == noAdmin:
			a.URL = "" // no admin API: no token either
		case len(tokens) > 0:
			a.Token = tokens[min(i, len(tokens)-1)]
		case len(dirs) > 0:
			path := filepath.Join(dirs[min(i, len(dirs)-1)], "admin-token")
			b, err := os.ReadFile(path)
			if err != nil {
				return o, common.Usage("read the server's admin token: %v", err)
			}
			a.Token = strings.TrimSpace(string(b))
			if err := api.CheckToken(a.Token); err != nil {
				return o, common.Usage("--server-data-dir: token in %s: %v", path, err)
			}
		}
		o.req.Admins = append(o.req.Admins, a)
	}
	return o, nil
}

func run(ctx context.Context, cl *client.Client, o options, w io.Writer) error {
	resp, err := cl.Connect(ctx, o.req)
	if err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(w, "plan %d: %d users from %s\n", resp.PlanID, resp.Users, time.Unix(resp.Start, 0).UTC().Format(time.RFC3339))
		for _, a := range resp.Agents {
			fmt.Fprintf(w, "  %-16s %8d users %v\n", a.Name, a.Count, a.Users)
		}
	}
	if !o.wait {
		if o.json {
			return common.PrintJSON(w, resp)
		}
		return nil
	}
	st, err := waitEstablished(ctx, cl, o.req.Users, o.timeout, w, o.json)
	if o.json {
		if perr := common.PrintJSON(w, map[string]any{"connect": resp, "connections": st.Connections}); perr != nil {
			return perr
		}
	}
	return err
}

// waitEstablished polls status until every user is logged in or timeout.
func waitEstablished(ctx context.Context, cl *client.Client, target int, timeout time.Duration, w io.Writer, quiet bool) (api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tty := isTTY(w)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var (
		st      api.Status
		lastN   int
		lastT   = time.Now()
		printed = -1
		refused = map[string]int64{} // by admin URL: refusals when first seen
	)
	for {
		var err error
		st, err = cl.Status(ctx)
		if err != nil && ctx.Err() == nil {
			return st, err
		}
		if err == nil {
			now := time.Now()
			n := st.Connections.Established
			rate := float64(n-lastN) / now.Sub(lastT).Seconds()
			lastN, lastT = n, now
			line := fmt.Sprintf("established %d/%d (%.1f%%)  %.0f/s  failed %d", n, target, 100*float64(n)/float64(target), rate, st.Connections.Failed)
			switch {
			case quiet:
			case tty:
				fmt.Fprintf(w, "\r\033[K%s", line)
			case n != printed:
				// Without a terminal, a line only when something changed.
				fmt.Fprintln(w, line)
				printed = n
			}
			if n >= target {
				if tty && !quiet {
					fmt.Fprintln(w)
				}
				return st, nil
			}
			if err := refusing(st.Servers, refused); err != nil {
				if tty && !quiet {
					fmt.Fprintln(w)
				}
				return st, err
			}
		}
		select {
		case <-ctx.Done():
			if tty && !quiet {
				fmt.Fprintln(w)
			}
			return st, fmt.Errorf("only %d of %d users established after %s: %w", st.Connections.Established, target, timeout, context.DeadlineExceeded)
		case <-tick.C:
		}
	}
}

// refusing says which server refuses connections since the wait began
// (its refusals grew past what was first seen), and why, so --wait ends
// with the cause instead of running into its timeout.
func refusing(servers []api.ServerInfo, first map[string]int64) error {
	var msgs []string
	for _, s := range servers {
		if !s.Polled {
			continue
		}
		before, seen := first[s.Admin]
		if !seen {
			first[s.Admin] = s.Refused
			continue
		}
		if s.Refused > before {
			name := s.Wire
			if name == "" {
				name = s.Admin
			}
			msgs = append(msgs, fmt.Sprintf("server %s (admin %s) refuses connections: at its connection limit of %d (%d held, %d logged in, %d refused since the wait began); raise its open-file limit or --max-conns, or spread the users over more servers",
				name, s.Admin, s.MaxConnections, s.Open, s.Connections, s.Refused-before))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
