package agents

import (
	"bufio"
	"os"
	"testing"

	"github.com/hbctl/hbctl/internal/testwait"
	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/servertest"
)

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For

// startServer runs a reference server (server/servertest) on addr
// ("127.0.0.1:0" for a fresh port) with its data in dir.
func startServer(t testing.TB, dir, addr string, cfg server.Config) (*server.Server, string) {
	t.Helper()
	cfg.DataDir = dir
	if cfg.Sets == 0 {
		cfg.Sets = 8
	}
	s := servertest.StartAt(t, addr, cfg)
	return s.Server, s.Addr
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func readLedger(t testing.TB, path string) []ledger.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rp, err := ledger.Read(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return rp.Records
}

// sumWindows folds windows into per-second counts.
func sumWindows(into map[int64]*Counts, ws []Window) {
	for i := range ws {
		c := into[ws[i].Second]
		if c == nil {
			c = new(Counts)
			into[ws[i].Second] = c
		}
		c.Add(&ws[i].Counts)
	}
}
