// Package demo is `hbctl demo`: the whole experiment on one machine. It
// starts a server, a coordinator and a few agents as child processes (its
// own binary re-executed) on loopback addresses with free ports, runs the
// local scenario (coordinator/scenario), verifies the ledgers, writes the
// HTML report (coordinator/report), stops its children and exits with the
// verdict. Command packages import common, never each other.
package demo

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
	"github.com/hbctl/hbctl/coordinator/report"
	"github.com/hbctl/hbctl/coordinator/scenario"
	"github.com/hbctl/hbctl/telemetry"
)

// LocalScenario is scripts/scenarios/local.yaml (a test keeps the two the
// same), built in so the demo needs no file beside the binary.
//
//go:embed local.yaml
var LocalScenario []byte

// Defaults sized for a laptop.
const (
	DefaultUsers  = 10000
	DefaultAgents = 4
	DefaultQPS    = 1000
	DefaultOut    = "report.html"
	// ExitInterrupted is the exit code after SIGINT or SIGTERM.
	ExitInterrupted = 130
	// readyWithin bounds each child's start and the agents' registration.
	readyWithin = 30 * time.Second
)

// Options are the demo's flags.
type Options struct {
	Users    int
	Agents   int
	QPS      int64
	Dir      string // parent of the run's fresh data dir; "" = the system temp dir
	Out      string
	Scenario string // a scenario file instead of the built-in local one
}

// Command returns `hbctl demo`.
func Command() *ucli.Command {
	var o Options
	return &ucli.Command{
		Name:  "demo",
		Usage: "run the whole experiment locally at a small scale, verify it and write report.html",
		Description: "Starts a server, a coordinator and --agents agents (on 127.0.0.2, 127.0.0.3,\n" +
			"...) as child processes on free ports, runs the local scenario (1,000 then\n" +
			"2,000 QPS, 2,000 shake and 1,000 sent envelopes at 200/s), verifies the\n" +
			"ledgers, writes the HTML report, prints where everything is and stops its\n" +
			"children. Ctrl-C stops everything. Needs nothing but this binary.\n\n" +
			"Exit: 0 passed and reconciled; 1 a threshold failed or discrepancies;\n" +
			"2 could not run or verify, or no report written; 130 interrupted.",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "users", Value: DefaultUsers, EnvVars: []string{"HBCTL_DEMO_USERS"}, Destination: &o.Users,
				Usage: "`N` users"},
			&ucli.IntFlag{Name: "agents", Value: DefaultAgents, EnvVars: []string{"HBCTL_DEMO_AGENTS"}, Destination: &o.Agents,
				Usage: "`N` agent processes, on 127.0.0.2 and up"},
			&ucli.Int64Flag{Name: "qps", Value: DefaultQPS, EnvVars: []string{"HBCTL_DEMO_QPS"}, Destination: &o.QPS,
				Usage: "first SHAKE rate `Q`; the later phase keeps its ratio (2×)"},
			&ucli.StringFlag{Name: "dir", EnvVars: []string{"HBCTL_DEMO_DIR"}, Destination: &o.Dir,
				Usage: "a fresh run dir (data and logs) is made inside `DIR` (default: the system temp dir)"},
			&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: DefaultOut, EnvVars: []string{"HBCTL_DEMO_OUT"}, Destination: &o.Out,
				Usage: "write the HTML report to `FILE`"},
			&ucli.StringFlag{Name: "scenario", EnvVars: []string{"HBCTL_DEMO_SCENARIO"}, Destination: &o.Scenario,
				Usage: "run the scenario `FILE` instead of the built-in local one (its targets are replaced)"},
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return common.Usage("demo takes no arguments, got %q", c.Args().Slice())
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, o, c.App.Writer)
		},
	}
}

var (
	serverLine = regexp.MustCompile(`listening wire=(\S+) admin=(\S+) token_file=(\S+)`)
	coordLine  = regexp.MustCompile(`^coordinator listening http=(\S+) time=(\S+) data_dir=(\S+) token_file=(\S+)`)
)

// Run runs the demo and returns the exit error of its verdict. Its
// children are stopped before it returns, whatever happens.
func Run(ctx context.Context, o Options, w io.Writer) (err error) {
	sc, err := o.check()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return ucli.Exit(fmt.Sprintf("find the hbctl binary: %v", err), common.ExitUsage)
	}
	parent := o.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return ucli.Exit(fmt.Sprintf("--dir: %v", err), common.ExitUsage)
	}
	dir, err := os.MkdirTemp(parent, "hbctl-demo-"+time.Now().Format("20060102-150405")+"-")
	if err != nil {
		return ucli.Exit(fmt.Sprintf("--dir: %v", err), common.ExitUsage)
	}
	cs := &children{exe: exe, logs: filepath.Join(dir, "logs")}
	if err := os.MkdirAll(cs.logs, 0o755); err != nil {
		return ucli.Exit(err.Error(), common.ExitUsage)
	}
	fmt.Fprintf(w, "demo: %d users, %d agents, %d QPS; run dir %s\n", o.Users, o.Agents, o.QPS, dir)
	defer func() {
		cs.stopAll()
		fmt.Fprintf(w, "demo: stopped %d processes (pids %v)\n", len(cs.pids()), cs.pids())
		fmt.Fprintf(w, "demo: data and logs in %s (logs/*.log; coordinator/timeline.jsonl, verify.json)\n", dir)
		if ctx.Err() != nil {
			err = ucli.Exit("demo: interrupted", ExitInterrupted)
		}
	}()

	coordDir := filepath.Join(dir, "coordinator")
	cl, srv, err := startAll(ctx, cs, o, dir, coordDir, w)
	if err != nil {
		return ucli.Exit(fmt.Sprintf("demo: %v", err), common.ExitUsage)
	}
	sc.Apply(scenario.Overrides{
		Servers: []string{srv.wire}, Admins: []string{srv.admin}, AdminTokenFiles: []string{srv.tokenFile},
		Users: o.Users, QPS: o.QPS,
	})
	res, runErr := scenario.Run(ctx, sc, scenario.Config{
		Control: cl,
		Verify:  scenario.CoordinatorVerify(cl, api.VerifyRequest{StayQuiet: true}),
		Out:     w,
		TTY:     isTTY(w),
	})
	if ctx.Err() != nil {
		return nil // the deferred stop turns this into exit 130
	}
	if runErr != nil {
		return ucli.Exit(fmt.Sprintf("demo: %v (logs in %s)", runErr, cs.logs), common.ExitUsage)
	}
	res.WriteSummary(w)
	// Stop the children first: the coordinator writes its last seconds and
	// the whole run's merged histograms when it shuts down, and the report
	// reads both.
	cs.stopAll()
	reportErr := writeReport(coordDir, o.Out)
	if reportErr != nil {
		fmt.Fprintf(w, "demo: no report: %v\n", reportErr)
	} else {
		abs, _ := filepath.Abs(o.Out)
		fmt.Fprintf(w, "demo: report %s\n", abs)
	}
	switch code := res.ExitCode(); code {
	case scenario.ExitPassed:
		if reportErr != nil {
			return ucli.Exit(fmt.Sprintf("demo: passed, but %v", reportErr), common.ExitUsage)
		}
		return nil
	case scenario.ExitUnverified:
		return ucli.Exit("demo: could not verify the ledgers", code)
	default:
		return ucli.Exit("demo: failed: "+strings.Join(res.Failures(), "; "), code)
	}
}

// check validates the options and loads the scenario.
func (o *Options) check() (*scenario.Scenario, error) {
	if o.Users <= 0 || o.Agents <= 0 || o.QPS <= 0 {
		return nil, common.Usage("--users, --agents and --qps must be positive")
	}
	if o.Agents > 250 {
		return nil, common.Usage("--agents %d: at most 250 (one loopback address each)", o.Agents)
	}
	lim, _ := telemetry.RaiseFileLimit()
	if per := agentCapacity(o.Users, o.Agents); lim.MaxConns() > 0 && per > lim.MaxConns() {
		return nil, common.Usage("--users %d over --agents %d is %d per agent, above the %d connections one process may hold here: use more agents",
			o.Users, o.Agents, per, lim.MaxConns())
	}
	var (
		sc  *scenario.Scenario
		err error
	)
	if o.Scenario != "" {
		sc, err = scenario.Load(o.Scenario)
	} else {
		sc, err = scenario.Parse("local.yaml (built in)", LocalScenario)
	}
	if err != nil {
		return nil, common.Usage("%v", err)
	}
	return sc, nil
}

// agentCapacity gives every agent a tenth more than its share, so the
// split never runs short.
func agentCapacity(users, agents int) int {
	per := (users + agents - 1) / agents
	return per + per/10 + 1
}

// server is where the demo's server listens.
type server struct {
	wire, admin, tokenFile string
}

// startAll starts the server, the coordinator and the agents and waits
// until every agent is registered and alive.
func startAll(ctx context.Context, cs *children, o Options, dir, coordDir string, w io.Writer) (*client.Client, server, error) {
	var srv server
	sp, err := cs.start("server", "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "server"))
	if err != nil {
		return nil, srv, err
	}
	m, err := sp.match(ctx, serverLine, readyWithin)
	if err != nil {
		return nil, srv, err
	}
	srv = server{wire: m[1], admin: "http://" + m[2], tokenFile: m[3]}
	fmt.Fprintf(w, "demo: server      pid %-7d wire %s admin %s\n", sp.cmd.Process.Pid, srv.wire, srv.admin)

	cp, err := cs.start("coordinator", "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0",
		"--data-dir", coordDir)
	if err != nil {
		return nil, srv, err
	}
	if m, err = cp.match(ctx, coordLine, readyWithin); err != nil {
		return nil, srv, err
	}
	url := "http://" + m[1]
	tok, err := os.ReadFile(m[4])
	if err != nil {
		return nil, srv, fmt.Errorf("coordinator token: %w", err)
	}
	cl := client.New(url, strings.TrimSpace(string(tok)))
	fmt.Fprintf(w, "demo: coordinator pid %-7d %s (HBCTL_COORDINATOR=%s HBCTL_COORDINATOR_DATA_DIR=%s)\n",
		cp.cmd.Process.Pid, url, url, coordDir)

	capacity := agentCapacity(o.Users, o.Agents)
	for i := range o.Agents {
		name := fmt.Sprintf("a%02d", i+1)
		ap, err := cs.start(name, "agent", "--coordinator", url, "--coordinator-data-dir", coordDir,
			"--name", name, "--bind", "127.0.0."+strconv.Itoa(i+2), "--capacity", strconv.Itoa(capacity),
			"--data-dir", filepath.Join(dir, name))
		if err != nil {
			return nil, srv, err
		}
		fmt.Fprintf(w, "demo: agent %s   pid %-7d bind 127.0.0.%d capacity %d\n", name, ap.cmd.Process.Pid, i+2, capacity)
	}
	return cl, srv, waitAgents(ctx, cs, cl, o.Agents)
}

// waitAgents polls the coordinator until n agents are alive.
func waitAgents(ctx context.Context, cs *children, cl *client.Client, n int) error {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	alive := 0
	for {
		if st, err := cl.Status(ctx); err == nil {
			alive = 0
			for _, a := range st.Agents {
				if a.Alive {
					alive++
				}
			}
			if alive >= n {
				return nil
			}
		}
		if err := cs.anyExited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("only %d of %d agents alive after %s; see %s", alive, n, readyWithin, cs.logs)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// writeReport writes the HTML report through a temporary file renamed
// over out, so a reader never sees half of one.
func writeReport(coordDir, out string) error {
	r, err := report.Build(coordDir)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	bw := bufio.NewWriter(tmp)
	err = errors.Join(r.WriteHTML(bw), bw.Flush(), tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report %s: %w", out, err)
	}
	return nil
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
