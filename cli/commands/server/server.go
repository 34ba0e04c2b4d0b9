// Package server is the 'hbctl server' command: flags in, a running
// reference server out. The engine is package server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/internal/httpserve"
	hbserver "github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/telemetry"
	"github.com/hbctl/hbctl/telemetry/influxflags"
)

// Options is what the flags of 'hbctl server' say.
type Options struct {
	Listen     string
	Admin      string
	AdminToken string
	Sets       int
	Loops      int
	WakeGrid   time.Duration
	MaxQPS     int
	DataDir    string
	Seed       int64
	Users      string
	WriteTO    time.Duration
	LoginTO    time.Duration
	FrameTO    time.Duration
	MaxConns   int
	TLSCert    string
	TLSKey     string
	LogLevel   string
	// HostName tags the server's points (host=...); default os.Hostname.
	HostName string
	// SampleHost samples the host's NICs, CPU and memory every second.
	SampleHost bool
	// Influx configures the InfluxDB sink; the server always writes
	// DATA-DIR/metrics.lp, and InfluxDB too when a URL is given.
	Influx telemetry.InfluxConfig
}

// Command is 'hbctl server'.
func Command() *ucli.Command {
	var o Options
	return &ucli.Command{
		Name:  "server",
		Usage: "run the reference red-envelope server",
		Description: "Holds user connections in SETs, answers SHAKE from envelope pools fed by\n" +
			"'POST /v1/shake', pushes envelopes on 'POST /v1/send', and journals every\n" +
			"envelope event to DATA-DIR/ledger.jsonl before the client can see it.\n" +
			"On startup it prints one line:\n" +
			"  hbctl server listening wire=ADDR admin=ADDR token_file=PATH [admin_tls=on]\n" +
			"with the actual ports (when :0 is given). SIGINT/SIGTERM shut it down cleanly.\n" +
			"Every second it appends its counters' change (hb_requests, hb_envelopes,\n" +
			"hb_connections with role=server) and host samples (net, cpu, mem) tagged\n" +
			"host=--host-name to DATA-DIR/metrics.lp, and to InfluxDB with --influx-url.",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "listen", Value: ":1025", Usage: "wire protocol listen address (:0 picks a free port)", EnvVars: []string{"HBCTL_SERVER_LISTEN"}, Destination: &o.Listen},
			&ucli.StringFlag{Name: "admin", Value: "127.0.0.1:8989", Usage: "admin HTTP API listen address (loopback by default; \"\" disables it)", EnvVars: []string{"HBCTL_SERVER_ADMIN_LISTEN"}, Destination: &o.Admin},
			&ucli.StringFlag{Name: "admin-token", Usage: "admin API bearer token (default: generated into DATA-DIR/admin-token, mode 0600, and reused)", EnvVars: []string{"HBCTL_ADMIN_TOKEN"}, Destination: &o.AdminToken},
			&ucli.IntFlag{Name: "sets", Value: hbserver.DefaultSets, Usage: "number of SETs connections are partitioned into by uid; each has its own envelope pool and is served by one event loop", EnvVars: []string{"HBCTL_SETS"}, Destination: &o.Sets},
			&ucli.IntFlag{Name: "loops", Value: 0, Usage: "epoll event loops that read, answer and write, each on a thread of its own (0: one per CPU, two to a thread until it is busy 85% of the time); each wakes for its share of every burst of requests, so fewer loops cost less per request and more spread the load of high rates", EnvVars: []string{"HBCTL_SERVER_LOOPS"}, Destination: &o.Loops},
			&ucli.DurationFlag{Name: "wake-grid", Value: hbserver.DefaultWakeGrid, Usage: "once requests arrive more often than every other step, a loop reads them on a grid of this step instead of waking for each (adds at most one step to a response); 0 wakes for every arrival", EnvVars: []string{"HBCTL_SERVER_WAKE_GRID"}, Destination: &o.WakeGrid},
			&ucli.IntFlag{Name: "max-qps", Value: 0, Usage: "SHAKEs per second answered before answering 17 (overloaded); 0 = no limit", EnvVars: []string{"HBCTL_MAX_QPS"}, Destination: &o.MaxQPS},
			&ucli.StringFlag{Name: "data-dir", Value: "hbctl-server-data", Usage: "directory of the ledger journal and the admin token; reusing it continues the run", EnvVars: []string{"HBCTL_SERVER_DATA_DIR"}, Destination: &o.DataDir},
			&ucli.Int64Flag{Name: "seed", Value: 0, Usage: "seed of the amount and share RNG, for reproducible runs; 0 = random", EnvVars: []string{"HBCTL_SEED"}, Destination: &o.Seed},
			&ucli.StringFlag{Name: "users", Usage: "valid uid range LO-HI, e.g. 0-999999 (LOGIN outside it gets result 1); default: any uid", EnvVars: []string{"HBCTL_SERVER_USERS"}, Destination: &o.Users},
			&ucli.DurationFlag{Name: "write-timeout", Value: hbserver.DefaultWriteTimeout, Usage: "how long a client may leave a write blocked before it is disconnected as a slow consumer", EnvVars: []string{"HBCTL_WRITE_TIMEOUT"}, Destination: &o.WriteTO},
			&ucli.DurationFlag{Name: "login-timeout", Value: hbserver.DefaultLoginTimeout, Usage: "how long a new connection may take to send its LOGIN before it is closed", EnvVars: []string{"HBCTL_SERVER_LOGIN_TIMEOUT"}, Destination: &o.LoginTO},
			&ucli.DurationFlag{Name: "frame-timeout", Value: hbserver.DefaultFrameTimeout, Usage: "how long a client may take to finish a frame it started before it is closed", EnvVars: []string{"HBCTL_SERVER_FRAME_TIMEOUT"}, Destination: &o.FrameTO},
			&ucli.IntFlag{Name: "max-conns", Value: 0, Usage: "wire connections held at once; beyond it a new connection is closed at once (or one that never logged in makes room); 0: what the open-file limit allows", EnvVars: []string{"HBCTL_SERVER_MAX_CONNS"}, Destination: &o.MaxConns},
			&ucli.StringFlag{Name: "tls-cert", Usage: "serve the admin API over TLS with this certificate (`PEM` file; with --tls-key)", EnvVars: []string{"HBCTL_SERVER_TLS_CERT"}, Destination: &o.TLSCert},
			&ucli.StringFlag{Name: "tls-key", Usage: "private key (`PEM` file) of --tls-cert", EnvVars: []string{"HBCTL_SERVER_TLS_KEY"}, Destination: &o.TLSKey},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error", EnvVars: []string{"HBCTL_LOG_LEVEL"}, Destination: &o.LogLevel},
			&ucli.StringFlag{Name: "host-name", Usage: "host tag of the server's metrics (default: the host name)", EnvVars: []string{"HBCTL_HOST_NAME"}, Destination: &o.HostName},
			&ucli.BoolFlag{Name: "sample-host", Value: true, Usage: "sample this host's NICs, CPU and memory every second into the metrics (tagged host=--host-name); false when another process on the host samples it already", EnvVars: []string{"HBCTL_SERVER_SAMPLE_HOST"}, Destination: &o.SampleHost},
		}, influxflags.Flags()...),
		Action: func(c *ucli.Context) error {
			o.Influx = influxflags.Config(c)
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, o, c.App.Writer)
		},
	}
}

// Run runs the server until ctx is done.
func Run(ctx context.Context, o Options, out interface{ Write([]byte) (int, error) }) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return ucli.Exit(fmt.Sprintf("--log-level: %v", err), 2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	users, err := hbserver.ParseUIDRange(o.Users)
	if err != nil {
		return ucli.Exit(fmt.Sprintf("--users: %v", err), 2)
	}
	lim, err := telemetry.RaiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	}
	tlsCfg, err := httpserve.ServerTLS(o.TLSCert, o.TLSKey)
	if err != nil {
		return ucli.Exit(fmt.Sprintf("--tls-cert, --tls-key: %v", err), 2)
	}
	if o.LoginTO <= 0 {
		return ucli.Exit(fmt.Sprintf("--login-timeout: must be positive, got %s", o.LoginTO), 2)
	}
	if o.FrameTO <= 0 {
		return ucli.Exit(fmt.Sprintf("--frame-timeout: must be positive, got %s", o.FrameTO), 2)
	}
	if o.MaxConns < 0 {
		return ucli.Exit(fmt.Sprintf("--max-conns: must not be negative, got %d", o.MaxConns), 2)
	}
	maxConns := o.MaxConns
	if maxConns == 0 && lim.Soft > 0 {
		maxConns = hbserver.MaxConnsFor(lim.Soft)
	}
	log.Info("open-file limit", "soft_before", lim.Before, "soft", lim.Soft, "hard", lim.Hard, "max_connections", maxConns)

	cfg := hbserver.Config{
		Sets: o.Sets, Loops: o.Loops, WakeGrid: o.WakeGrid, MaxQPS: o.MaxQPS, DataDir: o.DataDir, Seed: o.Seed, Users: users,
		WriteTimeout: o.WriteTO, AdminToken: o.AdminToken, Logger: log,
		LoginTimeout: o.LoginTO, FrameTimeout: o.FrameTO, MaxConns: maxConns,
	}
	if err := cfg.Validate(); err != nil {
		return ucli.Exit(err.Error(), 2)
	}
	srv, err := hbserver.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	sink, err := openSink(ctx, o.DataDir, o.Influx, log)
	if err != nil {
		srv.Close()
		ln.Close()
		return err
	}
	defer func() {
		if err := sink.Close(); err != nil {
			log.Warn("metric sinks closed with an error", "err", err)
		}
	}()
	host := o.HostName
	if host == "" {
		host, _ = os.Hostname()
	}
	// Baseline before serving, so every request is in some second.
	poller := newStatsPoller(srv, sink, host)
	tctx, stopTelemetry := context.WithCancel(context.Background())
	telemetryDone := make(chan struct{})
	go func() { defer close(telemetryDone); poller.run(tctx) }()
	if o.SampleHost {
		go telemetry.NewSampler(sink.Write, telemetry.WithHost(host), telemetry.WithSamplerLogger(log)).Run(tctx)
	}
	defer func() { stopTelemetry(); <-telemetryDone }()

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()

	adminAddr := "-"
	var hs *http.Server
	if o.Admin != "" {
		aln, err := net.Listen("tcp", o.Admin)
		if err != nil {
			srv.Close()
			return fmt.Errorf("admin listen %s: %w", o.Admin, err)
		}
		adminAddr = aln.Addr().String()
		hs, aln = srv.AdminServer(aln, tlsCfg)
		go func() {
			if err := hs.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	tokenFile := srv.TokenFile()
	if tokenFile == "" {
		tokenFile = "-"
	}
	tlsNote := ""
	if tlsCfg != nil && hs != nil {
		tlsNote = " admin_tls=on"
	}
	fmt.Fprintf(out, "hbctl server listening wire=%s admin=%s token_file=%s%s\n", ln.Addr(), adminAddr, tokenFile, tlsNote)
	log.Info("serving", "wire", ln.Addr().String(), "admin", adminAddr, "token_file", tokenFile, "sets", o.Sets, "max_qps", o.MaxQPS, "users", users.String())

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
	}
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		hs.Shutdown(sctx)
		cancel()
	}
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close: %w", err)
	}
	if runErr == nil {
		log.Info("stopped; journal closed")
	}
	return runErr
}
