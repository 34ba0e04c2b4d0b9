package app

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/cli/commands/common"
	"github.com/hbctl/hbctl/telemetry/influxflags"
)

// shared are the only variables more than one command reads, each with
// the one thing it means wherever it is read. A variable read by two
// commands and not listed here fails TestOneMeaningPerVariable: give the
// second flag a variable of its own, named after its command, or, when
// the meaning really is the same, list it here. The variables of the
// coordinator's connection flags (cli/commands/common) and of the InfluxDB
// flags (telemetry/influxflags) are shared by construction and added by
// sharedVars.
var shared = map[string]string{
	"HBCTL_COORDINATOR_DATA_DIR": "the coordinator's data dir (where its token is)",
	"HBCTL_TOKEN":                "the coordinator's bearer token",
	"HBCTL_INFLUX_QUEUE":         "the InfluxDB sink's queue length",
	"HBCTL_LOG_LEVEL":            "the log level of the long-running server and coordinator",
	"HBCTL_JSON":                 "print JSON on stdout instead of text",
	"HBCTL_SERVER":               "the wire addresses of the servers under test",
	"HBCTL_ADMIN":                "the admin API URLs of the servers under test",
	"HBCTL_ADMIN_TOKEN":          "the servers' admin API token",
	"HBCTL_SERVER_DATA_DIR":      "a server's data dir (where its admin token is)",
	"HBCTL_USERS":                "how many users a run connects (uids 0..N-1)",
}

// envOf lists the variables flags read.
func envOf(flags []ucli.Flag) []string {
	var vs []string
	for _, f := range flags {
		if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
			vs = append(vs, ef.GetEnvVars()...)
		}
	}
	return vs
}

// except are the variables that two processes which run side by side may
// both read: the InfluxDB settings and the log level for the server and
// the coordinator, the coordinator's address and token (its connection
// flags) for the agent and connect; the server and the agent, nothing.
func except() map[[2]string][]string {
	return map[[2]string][]string{
		{"server", "agent"}:       nil,
		{"server", "coordinator"}: append(envOf(influxflags.Flags()), "HBCTL_INFLUX_QUEUE", "HBCTL_LOG_LEVEL"),
		{"agent", "connect"}:      envOf(common.Flags()),
	}
}

// sharedVars is shared with the variables of the flag sets every command
// that takes them spells the same way.
func sharedVars() map[string]string {
	m := maps.Clone(shared)
	for _, v := range envOf(common.Flags()) {
		m[v] = "the coordinator's connection (cli/commands/common)"
	}
	for _, v := range envOf(influxflags.Flags()) {
		m[v] = "the InfluxDB sink (telemetry/influxflags)"
	}
	return m
}

// TestOneMeaningPerVariable walks the whole command tree: a variable that
// feeds flags of more than one command must be one of shared, and the
// processes of one host (server, coordinator, agent, connect) share none
// but the exceptions.
func TestOneMeaningPerVariable(t *testing.T) {
	uses := EnvUses(New())
	shared := sharedVars()
	if len(uses) < 50 {
		t.Fatalf("found %d variables: the walk missed commands", len(uses))
	}
	byCmd := map[string]map[string]bool{} // top-level command -> variables
	for v, us := range uses {
		if !strings.HasPrefix(v, "HBCTL_") {
			t.Errorf("%s: every variable of hbctl starts with HBCTL_", v)
		}
		var cmds []string
		for _, u := range us {
			top, _, _ := strings.Cut(u.Command, " ")
			if byCmd[top] == nil {
				byCmd[top] = map[string]bool{}
			}
			byCmd[top][v] = true
			if !slices.Contains(cmds, u.Command) {
				cmds = append(cmds, u.Command)
			} else {
				t.Errorf("%s feeds two flags of %q: %v", v, u.Command, us)
			}
		}
		if len(cmds) > 1 {
			if _, ok := shared[v]; !ok {
				t.Errorf("%s feeds flags of several commands (%v) and is not one of the shared variables: name each after its command", v, us)
			}
		}
	}
	for pair, allowed := range except() {
		for v := range byCmd[pair[0]] {
			if byCmd[pair[1]][v] && !slices.Contains(allowed, v) {
				t.Errorf("%s is read by both %s and %s: a host running both would set both", v, pair[0], pair[1])
			}
		}
	}
}

// TestUsageErrorsExit2 runs commands with a bad flag, a bad value, a
// missing required flag or an unknown command name: each exits 2 before
// doing anything.
func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"nosuch"},
		{"qps", "nosuch"},
		{"verify", "nosuch"},
		{"status", "--nosuch"},
		{"status", "--interval", "soon"},
		{"qps", "set", "--at"},
		{"connect", "--users", "10"},
		{"coordinator", "--log-level", "loud", "--data-dir", dir, "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0"},
		{"server", "--log-level", "loud", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin", ""},
		{"server", "--sets", "-1", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin", ""},
		{"agent", "--log-level", "loud", "--data-dir", dir},
		{"verify", "ledger", "--json", "--json-out", "x.json", "--coordinator", "http://127.0.0.1:1", "--token", "t"},
	} {
		a := New()
		var out bytes.Buffer
		a.Writer, a.ErrWriter = &out, &out
		err := a.Run(append([]string{"hbctl"}, args...))
		if got := ExitCode(err); err == nil || got != ExitUsage {
			t.Errorf("hbctl %s: exit %d (err %v), want %d", strings.Join(args, " "), got, err, ExitUsage)
		}
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) {
			t.Errorf("hbctl %s: %v carries no exit code", strings.Join(args, " "), err)
		}
	}
}
