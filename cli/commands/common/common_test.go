package common

import (
	"os"
	"path/filepath"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// runCmd runs a one-command app with the common flags plus --at and --json.
func runCmd(t *testing.T, args []string, action func(c *ucli.Context) error) error {
	t.Helper()
	app := &ucli.App{Commands: []*ucli.Command{{
		Name:   "cmd",
		Flags:  append(Flags(), &ucli.StringFlag{Name: "at"}, JSONFlag()),
		Action: action,
	}}, ExitErrHandler: func(*ucli.Context, error) {}}
	return app.Run(append([]string{"hbctl", "cmd"}, args...))
}

func TestArgsAfterPositional(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		at   string
		json bool
	}{
		// flags after the argument are applied
		{[]string{"3000", "--at", "+5s"}, []string{"3000"}, "+5s", false},
		// = form and a bool flag
		{[]string{"3000", "--at=+1s", "--json"}, []string{"3000"}, "+1s", true},
		// flags before still work
		{[]string{"--at", "+2s", "7"}, []string{"7"}, "+2s", false},
	}
	for _, tt := range tests {
		err := runCmd(t, tt.args, func(c *ucli.Context) error {
			pos, err := Args(c)
			if err != nil {
				return err
			}
			if len(pos) != len(tt.pos) || (len(pos) > 0 && pos[0] != tt.pos[0]) || c.String("at") != tt.at || c.Bool(FlagJSON) != tt.json {
				t.Errorf("%v: pos %v at %q json %v", tt.args, pos, c.String("at"), c.Bool(FlagJSON))
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
		}
	}
	err := runCmd(t, []string{"1", "--nope"}, func(c *ucli.Context) error { _, err := Args(c); return err })
	if ec, ok := err.(ucli.ExitCoder); !ok || ec.ExitCode() != ExitUsage {
		t.Fatalf("unknown flag after an argument: %v, want a usage error", err)
	}
}

func TestTokenResolution(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // "" = error with ExitAuth
	}{
		// the flag wins
		{[]string{"--token", "flag", "--coordinator-data-dir", dir}, "flag"},
		// a local coordinator's token file
		{[]string{"--coordinator", "http://127.0.0.1:7070", "--coordinator-data-dir", dir}, "from-file"},
		// a remote coordinator needs the token given
		{[]string{"--coordinator", "http://10.1.2.3:7070", "--coordinator-data-dir", dir}, ""},
		// no token file
		{[]string{"--coordinator-data-dir", filepath.Join(dir, "none")}, ""},
	}
	for _, tt := range tests {
		var got string
		err := runCmd(t, tt.args, func(c *ucli.Context) error {
			cl, err := Client(c)
			if err == nil {
				got = cl.Token
			}
			return err
		})
		if tt.want == "" {
			if ec, ok := err.(ucli.ExitCoder); !ok || ec.ExitCode() != ExitAuth {
				t.Errorf("%v: %v, want exit %d", tt.args, err, ExitAuth)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: token %q, err %v; want %q", tt.args, got, err, tt.want)
		}
	}
}
