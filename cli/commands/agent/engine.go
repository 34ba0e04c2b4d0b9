package agent

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/cli/commands/common"
)

// engineFlags are the flags that shape how the engine holds and fires its
// users, as opposed to how the agent meets the coordinator.
func engineFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "bind", EnvVars: []string{"HBCTL_BIND"}, Usage: "local `IP` to dial the servers from (several agents on several IPs hold more than 64k connections per host)"},
		&ucli.IntFlag{Name: "connect-rate", Value: agents.DefaultConnectRate, EnvVars: []string{"HBCTL_AGENT_CONNECT_RATE"},
			Usage: "at most `N` connection attempts a second by this agent process, first connects and reconnects alike (with jittered back-off), so a restarted server never sees a storm"},
		&ucli.DurationFlag{Name: "timeout", Value: agents.DefaultTimeout, EnvVars: []string{"HBCTL_AGENT_TIMEOUT"}, Usage: "a SHAKE unanswered for this `DURATION` counts as unanswered (a late answer is still matched and journaled)"},
		&ucli.StringFlag{Name: "open-delay", Value: "0-100ms", EnvVars: []string{"HBCTL_OPEN_DELAY"},
			Usage: "wait before OPENing a received envelope: a `RANGE` drawn at random (0-100ms, 20ms-2s) or one fixed duration (0 opens at once)"},
		&ucli.BoolFlag{Name: "backoff-on-overload", Value: true, EnvVars: []string{"HBCTL_BACKOFF_ON_OVERLOAD"},
			Usage: "after a SHAKE_RESP 17 (overloaded) a user skips its next fire, then 2, 4 ... while overloads last; every skip is counted (--backoff-on-overload=false keeps firing)"},
		&ucli.DurationFlag{Name: "wake-grid", Value: agents.DefaultWakeGrid, EnvVars: []string{"HBCTL_WAKE_GRID"},
			Usage: "fires due within one `STEP` go out together on one wake-up: a fire is up to one step late, and wake-ups, which are most of an agent's CPU, fall with a longer step; a loop due again within one step sleeps through it on its own thread, so a control command waits up to one step; 0 wakes for every fire"},
		&ucli.IntFlag{Name: "loops", Value: 0, DefaultText: "one per CPU, two to a thread while lightly loaded", EnvVars: []string{"HBCTL_AGENT_LOOPS"},
			Usage: "`N` event loops sharing the users, each on a thread of its own; each wakes on its own, so one loop costs least CPU at low rates and more spread the load of high ones. By default a thread runs two loops on one wake-up until it is busy 85% of the time"},
	}
}

// engineConfig reads engineFlags into an engine configuration; a bad value
// is a usage error that names its flag.
func engineConfig(c *ucli.Context, dir string) (agents.Config, error) {
	cfg := agents.Config{
		Bind: c.String("bind"), DataDir: dir, Timeout: c.Duration("timeout"),
		ConnectRate:    c.Int("connect-rate"),
		IgnoreOverload: !c.Bool("backoff-on-overload"),
		Loops:          c.Int("loops"),
	}
	if cfg.Bind != "" && net.ParseIP(cfg.Bind) == nil {
		return cfg, common.Usage("--bind %q: want an IP address", cfg.Bind)
	}
	if cfg.ConnectRate <= 0 {
		return cfg, common.Usage("--connect-rate must be positive, got %d", cfg.ConnectRate)
	}
	if cfg.Timeout <= 0 {
		return cfg, common.Usage("--timeout must be positive, got %v", cfg.Timeout)
	}
	lo, hi, err := parseDelayRange(c.String("open-delay"))
	if err != nil {
		return cfg, common.Usage("--open-delay: %v", err)
	}
	// The engine takes 0-0 for its default (0-100ms); [0, 1ns) only ever
	// draws 0. Any other fixed delay d-d is d already.
	if hi == 0 {
		hi = 1
	}
	cfg.OpenDelayMin, cfg.OpenDelayMax = lo, hi
	switch g := c.Duration("wake-grid"); {
	case g < 0:
		return cfg, common.Usage("--wake-grid must be 0 or more, got %v", g)
	case g == 0:
		cfg.WakeGrid = -1 // the engine's "a wake-up per fire"
	default:
		cfg.WakeGrid = g
	}
	if n := runtime.NumCPU(); cfg.Loops < 0 || cfg.Loops > 4*n {
		return cfg, common.Usage("--loops must be between 0 (one per CPU) and %d (4 per CPU), got %d", 4*n, cfg.Loops)
	}
	return cfg, nil
}

// parseDelayRange reads "D" or "LO-HI" where each side is a Go duration; a
// bare number on the left takes the unit of the right ("0-100ms").
func parseDelayRange(s string) (lo, hi time.Duration, err error) {
	bad := fmt.Errorf("%q is not a duration like 50ms or a range like 0-100ms", s)
	left, right, isRange := strings.Cut(strings.TrimSpace(s), "-")
	left, right = strings.TrimSpace(left), strings.TrimSpace(right)
	if !isRange {
		if lo, err = time.ParseDuration(left); err != nil {
			return 0, 0, bad
		}
		return lo, lo, nil
	}
	if hi, err = time.ParseDuration(right); err != nil {
		return 0, 0, bad
	}
	if lo, err = time.ParseDuration(left); err != nil {
		if lo, err = time.ParseDuration(left + strings.TrimLeft(right, "0123456789.")); err != nil {
			return 0, 0, bad
		}
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q ends before it starts", s)
	}
	return lo, hi, nil
}
