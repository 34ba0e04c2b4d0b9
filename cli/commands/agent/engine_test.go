package agent

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/cli/commands/common"
)

// parse runs args through the engine flags as `hbctl agent` parses them.
func parse(t *testing.T, args ...string) (agents.Config, error) {
	t.Helper()
	var cfg agents.Config
	var cfgErr error
	app := &ucli.App{Name: "hbctl", Writer: io.Discard, ErrWriter: io.Discard, ExitErrHandler: func(*ucli.Context, error) {},
		Commands: []*ucli.Command{{Name: "agent", Flags: engineFlags(), Action: func(c *ucli.Context) error {
			cfg, cfgErr = engineConfig(c, "dir")
			return cfgErr
		}}}}
	if err := app.Run(append([]string{"hbctl", "agent"}, args...)); err != nil && cfgErr == nil {
		t.Fatalf("%v: %v", args, err)
	}
	return cfg, cfgErr
}

func TestEngineFlagDefaults(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	want := agents.Config{DataDir: "dir", Timeout: agents.DefaultTimeout, ConnectRate: agents.DefaultConnectRate,
		OpenDelayMin: 0, OpenDelayMax: 100 * time.Millisecond, WakeGrid: agents.DefaultWakeGrid}
	if cfg.DataDir != want.DataDir || cfg.Timeout != want.Timeout || cfg.ConnectRate != want.ConnectRate ||
		cfg.OpenDelayMin != want.OpenDelayMin || cfg.OpenDelayMax != want.OpenDelayMax || cfg.WakeGrid != want.WakeGrid ||
		cfg.IgnoreOverload || cfg.Loops != 0 || cfg.Bind != "" {
		t.Errorf("defaults %+v, want %+v with overload back-off on and loops by CPU", cfg, want)
	}
}

func TestEngineFlags(t *testing.T) {
	cfg, err := parse(t, "--bind", "127.0.0.3", "--connect-rate", "500", "--timeout", "2s", "--open-delay", "20ms-2s",
		"--backoff-on-overload=false", "--wake-grid", "250us", "--loops", "1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bind != "127.0.0.3" || cfg.ConnectRate != 500 || cfg.Timeout != 2*time.Second ||
		cfg.OpenDelayMin != 20*time.Millisecond || cfg.OpenDelayMax != 2*time.Second ||
		!cfg.IgnoreOverload || cfg.WakeGrid != 250*time.Microsecond || cfg.Loops != 1 {
		t.Errorf("got %+v", cfg)
	}
	// 0 is a wake-up for every fire, the engine's negative grid.
	if cfg, err := parse(t, "--wake-grid", "0"); err != nil || cfg.WakeGrid >= 0 {
		t.Errorf("--wake-grid 0: grid %v, err %v", cfg.WakeGrid, err)
	}
}

func TestOpenDelay(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		lo, hi time.Duration // as the engine gets them: [lo, hi)
	}{
		{"0-100ms", 0, 100 * time.Millisecond},
		{"10ms-20ms", 10 * time.Millisecond, 20 * time.Millisecond},
		{"1.5-2s", 1500 * time.Millisecond, 2 * time.Second},
		{"50ms", 50 * time.Millisecond, 50 * time.Millisecond}, // fixed
		{"0", 0, 1}, // at once, not the engine's default
		{" 5ms - 5ms ", 5 * time.Millisecond, 5 * time.Millisecond},
	} {
		cfg, err := parse(t, "--open-delay", tc.arg)
		if err != nil {
			t.Errorf("%q: %v", tc.arg, err)
			continue
		}
		if cfg.OpenDelayMin != tc.lo || cfg.OpenDelayMax != tc.hi {
			t.Errorf("%q: [%v, %v), want [%v, %v)", tc.arg, cfg.OpenDelayMin, cfg.OpenDelayMax, tc.lo, tc.hi)
		}
	}
}

// Every bad value is a usage error (exit 2) that names its flag and says
// what it got.
func TestEngineFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--connect-rate", "0"}, "--connect-rate must be positive, got 0"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--open-delay", "soon"}, `--open-delay: "soon" is not a duration`},
		{[]string{"--open-delay", "2s-1s"}, `--open-delay: range "2s-1s" ends before it starts`},
		{[]string{"--open-delay", "-5ms"}, `--open-delay: "-5ms" is not a duration`},
		{[]string{"--wake-grid", "-1ms"}, "--wake-grid must be 0 or more, got -1ms"},
		{[]string{"--loops", "-1"}, "--loops must be between 0 (one per CPU) and"},
		{[]string{"--loops", "100000"}, "got 100000"},
	} {
		_, err := parse(t, tc.args...)
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != common.ExitUsage {
			t.Errorf("%v: error %v, want a usage error", tc.args, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %q does not say %q", tc.args, err, tc.want)
		}
	}
}
