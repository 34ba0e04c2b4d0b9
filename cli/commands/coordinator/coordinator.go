// Package coordinator is `hbctl coordinator`: it runs the control plane
// (HTTP API for agents and control commands, UDP time service, timeline)
// until interrupted.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	coord "github.com/hbctl/hbctl/coordinator"
	"github.com/hbctl/hbctl/coordinator/timesvc"
	"github.com/hbctl/hbctl/telemetry"
)

// Command returns `hbctl coordinator`.
func Command() *ucli.Command {
	return &ucli.Command{
		Name:  "coordinator",
		Usage: "run the control plane the agents and control commands talk to",
		Description: "Serves the HTTP API under /v1/ (bearer token on every call) and the UDP time\n" +
			"service, keeps the agent registry, re-plans when an agent dies, and writes\n" +
			"the run timeline (timeline.jsonl), metrics (metrics.lp) and the run's merged\n" +
			"latency histograms (run-histograms.json) into --data-dir. With --influx-url\n" +
			"metrics also go to InfluxDB; a slow or dead InfluxDB never slows the load\n" +
			"(points are dropped and counted: see hbctl status).\n\n" +
			"On start it prints one line tests and scripts can parse:\n" +
			"  coordinator listening http=HOST:PORT time=HOST:PORT data_dir=DIR token_file=FILE\n" +
			"and, when it generated the token, the token once.\n\n" +
			"Example:\n  hbctl coordinator --listen :7070 --data-dir ./coord",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "listen", Value: ":7070", EnvVars: []string{"HBCTL_COORDINATOR_LISTEN"}, Usage: "HTTP API `ADDR`"},
			&ucli.StringFlag{Name: "time-udp", Value: ":7071", EnvVars: []string{"HBCTL_TIME_UDP"}, Usage: "UDP time service `ADDR`"},
			&ucli.StringFlag{Name: "data-dir", Value: common.DefaultCoordinatorDataDir, EnvVars: []string{"HBCTL_COORDINATOR_DATA_DIR"},
				Usage: "`DIR` for the token, timeline.jsonl and metrics.lp"},
			&ucli.StringFlag{Name: "token", EnvVars: []string{"HBCTL_TOKEN"},
				Usage: "bearer `TOKEN` required on every call (default: generated, written to <data-dir>/token and printed once)"},
			&ucli.DurationFlag{Name: "dead-after", Value: coord.DefaultDeadAfter, EnvVars: []string{"HBCTL_DEAD_AFTER"},
				Usage: "an agent silent this long is dead and its users are re-planned over the others"},
			&ucli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"HBCTL_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
		}, influxFlags()...),
		Action: func(c *ucli.Context) error {
			o := Options{
				Listen: c.String("listen"), TimeUDP: c.String("time-udp"), DataDir: c.String("data-dir"),
				Token: c.String("token"), DeadAfter: c.Duration("dead-after"), LogLevel: c.String("log-level"),
				Influx: influxConfig(c),
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := Run(ctx, o, c.App.Writer, c.App.ErrWriter)
			var ec ucli.ExitCoder
			if err == nil || errors.As(err, &ec) {
				return err // usage errors carry their exit code (2)
			}
			return ucli.Exit(err.Error(), common.ExitFailure)
		},
	}
}

// Options are the flags of `hbctl coordinator`.
type Options struct {
	Listen, TimeUDP, DataDir, Token string
	DeadAfter                       time.Duration
	LogLevel                        string
	// Influx configures the InfluxDB sink; without a URL metrics go to
	// <data-dir>/metrics.lp only.
	Influx telemetry.InfluxConfig
}

// Run serves until ctx ends.
func Run(ctx context.Context, o Options, out, errOut io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return common.Usage("--log-level: %v", err)
	}
	if errOut == nil {
		errOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	token, created := o.Token, false
	if token != "" {
		if err := coord.WriteToken(o.DataDir, token); err != nil {
			return err
		}
	} else {
		var err error
		if token, created, err = coord.LoadOrCreateToken(o.DataDir); err != nil {
			return err
		}
	}

	ts, err := timesvc.Listen(o.TimeUDP)
	if err != nil {
		return fmt.Errorf("time service: %w", err)
	}
	defer ts.Close()
	go ts.Serve()

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sink, err := openSinks(ctx, o.DataDir, o.Influx, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() {
		if err := sink.Out.Close(); err != nil {
			log.Warn("metric sinks closed with an error", "err", err)
		}
	}()

	co, err := coord.New(coord.Config{
		DataDir: o.DataDir, Token: token,
		TimePort:  ts.Addr().(*net.UDPAddr).Port,
		DeadAfter: o.DeadAfter,
		Sink:      sink,
		Logger:    log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	co.Start()
	defer co.Close()

	srv := &http.Server{Handler: co.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "coordinator listening http=%s time=%s data_dir=%s token_file=%s\n",
		ln.Addr(), ts.Addr(), o.DataDir, filepath.Join(o.DataDir, coord.TokenFile))
	if created {
		fmt.Fprintf(out, "token %s\n", token)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down")
	co.Close() // wakes long polls first, so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
