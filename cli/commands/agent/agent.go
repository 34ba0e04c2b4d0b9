// Package agent is `hbctl agent`: an agent engine attached to the
// coordinator (agents/remote), holding users and firing their SHAKEs.
package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/agents/remote"
	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/telemetry"
)

// DefaultCapacity is how many users an agent offers to hold.
const DefaultCapacity = 60000

// Command returns `hbctl agent`.
func Command() *ucli.Command {
	host, _ := os.Hostname()
	return &ucli.Command{
		Name:  "agent",
		Usage: "hold user connections for the coordinator and fire their SHAKEs",
		Description: "Dials the coordinator (no inbound port needed), measures its clock against\n" +
			"the coordinator's time service, and holds the users and runs the plan it is\n" +
			"given. Refuses a --capacity above what the open-file limit allows. If the\n" +
			"coordinator goes away the load keeps running and the agent reconnects.\n\n" +
			"Example:\n  hbctl agent --coordinator http://10.0.0.1:7070 --name h01 --bind 10.0.1.1 \\\n" +
			"      --capacity 60000 --data-dir /var/lib/hbctl/h01",
		Flags: append(append(common.Flags(),
			&ucli.StringFlag{Name: "name", Value: host, DefaultText: "the host name", EnvVars: []string{"HBCTL_AGENT_NAME"}, Usage: "agent `NAME`, unique per run (a restarted agent with the same name gets its users back)"},
			&ucli.IntFlag{Name: "capacity", Value: DefaultCapacity, EnvVars: []string{"HBCTL_CAPACITY"}, Usage: "most `USERS` this agent holds"},
			&ucli.StringFlag{Name: "data-dir", Value: "hbctl-agent", EnvVars: []string{"HBCTL_AGENT_DATA_DIR"}, Usage: "`DIR` for the client ledger and counters"},
			&ucli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"HBCTL_AGENT_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&ucli.BoolFlag{Name: "sample-host", Value: true, EnvVars: []string{"HBCTL_SAMPLE_HOST"},
				Usage: "sample this host's NICs, CPU and memory every second and send them with the heartbeats (tagged host=NAME)"},
			&ucli.DurationFlag{Name: "clock-skew", Hidden: true, EnvVars: []string{"HBCTL_CLOCK_SKEW"}, Usage: "test hook: shift the local clock"},
		), engineFlags()...),
		Action: func(c *ucli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return common.Usage("--log-level: %v", err)
			}
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
			capacity := c.Int("capacity")
			if capacity <= 0 {
				return common.Usage("--capacity must be positive")
			}
			lim, err := telemetry.RaiseFileLimit()
			if err != nil {
				log.Warn("open-file limit", "err", err)
			}
			if err := lim.CheckConns(capacity); err != nil {
				return common.Usage("--capacity %d: %v", capacity, err)
			}
			log.Info("open-file limit", "soft", lim.Soft, "hard", lim.Hard, "max_conns", lim.MaxConns(), "capacity", capacity)
			tok, err := common.Token(c)
			if err != nil {
				return common.Exit(err)
			}
			dir := c.String("data-dir")
			engine, err := engineConfig(c, dir)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return common.Exit(fmt.Errorf("create data dir: %w", err))
			}
			a, err := remote.New(remote.Config{
				Coordinator: c.String(common.FlagCoordinator), Token: tok,
				Name: c.String("name"), Capacity: capacity,
				Engine:    engine,
				ClockSkew: c.Duration("clock-skew"),
				Logger:    log,
			})
			if err != nil {
				return common.Usage("%v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if c.Bool("sample-host") {
				// The sampler reads the interfaces of this process's network
				// namespace: in the lab, the agent's own host.
				s := telemetry.NewSampler(a.HostPoints, telemetry.WithHost(c.String("name")), telemetry.WithSamplerLogger(log))
				go s.Run(ctx)
			}
			fmt.Fprintf(c.App.Writer, "agent %s started coordinator=%s capacity=%d data_dir=%s at=%s\n",
				c.String("name"), c.String(common.FlagCoordinator), capacity, dir, time.Now().UTC().Format(time.RFC3339))
			if err := a.Run(ctx); err != nil {
				if errors.Is(err, remote.ErrUnauthorized) {
					return ucli.Exit(err.Error(), common.ExitAuth)
				}
				return common.Exit(err)
			}
			return nil
		},
	}
}
