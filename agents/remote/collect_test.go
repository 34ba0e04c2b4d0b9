package remote

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/server/ledger"
)

func newTestAgent(t *testing.T, dir string) *Agent {
	t.Helper()
	a, err := New(Config{Coordinator: "http://127.0.0.1:1", Token: token, Name: "h01", Capacity: 10,
		Engine: agents.Config{Name: "h01", DataDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func writeCheckpoint(t *testing.T, dir string, tms int64, users ...ledger.ClientUser) {
	t.Helper()
	b, _ := json.Marshal(agents.Checkpoint{Agent: "h01", T: tms, Users: users})
	if err := os.WriteFile(filepath.Join(dir, agents.CountersFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRestartsRecorded: a checkpoint left without a clean stop is a
// restart (checkpoint time, restart time); one after a clean stop is not;
// a first start with no checkpoint is not.
func TestRestartsRecorded(t *testing.T) {
	dir := t.TempDir()
	a := newTestAgent(t, dir)
	a.noteStart()
	if rs, err := readRestarts(dir); err != nil || len(rs) != 0 {
		t.Fatalf("first start: %v %v", rs, err)
	}
	writeCheckpoint(t, dir, 1000)
	a.noteCleanStop()
	a.noteStart()
	if rs, _ := readRestarts(dir); len(rs) != 0 {
		t.Fatalf("restart after a clean stop recorded: %v", rs)
	}
	// The engine starts now (far after 1000 ms since the epoch)...
	a.noteStart()
	rs, err := readRestarts(dir)
	if err != nil || len(rs) != 1 || rs[0].CheckpointMillis <= 1000 {
		t.Fatalf("killed before its first checkpoint: restarts %+v, %v; want one from the engine's start", rs, err)
	}
	started := rs[0].RestartMillis
	writeCheckpoint(t, dir, started+5000) // a checkpoint after that start
	a.noteStart()                         // killed again: no clean stop since
	rs, err = readRestarts(dir)
	if err != nil || len(rs) != 2 || rs[1].CheckpointMillis != started+5000 {
		t.Fatalf("restarts %+v, %v", rs, err)
	}
	if rs[0].RestartMillis < rs[0].CheckpointMillis {
		t.Errorf("restart %+v before its checkpoint", rs[0])
	}
}

// TestLedgerWithoutEngine: an agent whose engine is not running uploads
// what its data dir holds: journal, checkpointed counters, restarts, and
// the pending count alone when not asked for everything.
func TestLedgerWithoutEngine(t *testing.T) {
	dir := t.TempDir()
	a := newTestAgent(t, dir)
	writeCheckpoint(t, dir, 5000, ledger.ClientUser{UID: 1, Srv: "s", Shake: 3, Got: 1, None: 1, Pending: 1})
	recs := []ledger.Record{{Ev: ledger.EvGrant, Env: 9, UID: 1, Amount: 5, T: 4000, Srv: "s"}}
	var b []byte
	for i := range recs {
		b = ledger.AppendJSON(b, &recs[i])
	}
	if err := os.WriteFile(filepath.Join(dir, agents.LedgerFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	a.noteStart()

	up := a.ledger(api.Collect{ID: 7})
	if up.ID != 7 || up.Pending != 1 || up.Records != nil || up.Users != nil || up.Error != "" {
		t.Fatalf("pending-only upload %+v", up)
	}
	up = a.ledger(api.Collect{ID: 8, Full: true})
	if up.Error != "" || len(up.Records) != 1 || !reflect.DeepEqual(up.Records[0], recs[0]) || len(up.Users) != 1 || len(up.Restarts) != 1 {
		t.Fatalf("full upload %+v", up)
	}

	// An unreadable journal is an error the coordinator reports (exit 2).
	if err := os.WriteFile(filepath.Join(dir, agents.LedgerFile), []byte("{\"ev\":\"bogus\"}\n{\"ev\":\"grant\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if up := a.ledger(api.Collect{ID: 9, Full: true}); up.Error == "" {
		t.Fatalf("corrupt journal uploaded without error: %+v", up)
	}
}

// FuzzReadRestarts: any restarts file reads without panic, and every
// entry it yields survives a round trip.
func FuzzReadRestarts(f *testing.F) {
	f.Add([]byte(`{"checkpoint_ms":1,"restart_ms":2}` + "\n"))
	f.Add([]byte(`{"checkpoint_ms":1,"restart_ms":2}` + "\n" + `{"checkpoint_ms":3,"rest`))
	f.Add([]byte("\n\n{}\nnot json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, RestartsFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rs, err := readRestarts(dir)
		if err != nil {
			return // a line beyond the scanner's bound
		}
		for _, r := range rs {
			b, _ := json.Marshal(r)
			var back api.Restart
			if json.Unmarshal(b, &back) != nil || back != r {
				t.Fatalf("round trip of %+v", r)
			}
		}
	})
}
