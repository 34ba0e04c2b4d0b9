package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// fixture is the run the report package tests against.
var fixture = filepath.Join("..", "..", "..", "coordinator", "report", "testdata", "run")

func runApp(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	app := &ucli.App{Name: "hbctl", Commands: []*ucli.Command{Command()}, Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(*ucli.Context, error) {}}
	err := app.Run(append([]string{"hbctl", "report"}, args...))
	return out.String(), err
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.html")
	msg, err := runApp(t, nil, "--data-dir", fixture, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("wrote %s (%d bytes)\n", out, st.Size()); msg != want {
		t.Errorf("output %q, want %q", msg, want)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `data-chart="qps"`) {
		t.Error("the file is not the report")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// The data dir defaults to the coordinator's, from its env var.
func TestReportCoordinatorDataDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	abs, _ := filepath.Abs(fixture)
	if _, err := runApp(t, map[string]string{"HBCTL_COORDINATOR_DATA_DIR": abs, "HBCTL_REPORT_OUT": out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestReportNoTimeline(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.html")
	_, err := runApp(t, nil, "--data-dir", dir, "--out", out)
	ec, ok := err.(ucli.ExitCoder)
	if !ok || ec.ExitCode() != 1 || !strings.Contains(err.Error(), "no timeline") {
		t.Fatalf("err %v, want exit 1 naming the missing timeline", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a report was written without a timeline")
	}
}
