package agents

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/durable"
	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/ledger"
)

// The hand-written checkpoint encoder writes exactly what encoding/json
// writes, so readers (the engine itself, agents/remote) see no change.
func TestAppendCheckpointMatchesJSON(t *testing.T) {
	full := ledger.ClientUser{UID: 4294967295, Srv: "127.0.0.1:7000", Shake: 1<<64 - 1, Got: 2, None: 3,
		Overloaded: 4, Lost: 5, Pending: 6, Unanswered: 7, Skipped: 8, OpenSent: 9, OpenAnswered: 10}
	for _, tc := range []struct {
		name  string
		agent string
		t     int64
		users []ledger.ClientUser
	}{
		{"no users", "h01", 1700000000123, nil},                                     // encoding/json writes null
		{"empty users", "h01", 0, []ledger.ClientUser{}},                            // and [] for an empty slice
		{"zero user", "h01", -5, []ledger.ClientUser{{}}},                           // srv omitted, zeros written
		{"full user", "agent-7", 42, []ledger.ClientUser{full, {UID: 1, Srv: "s"}}}, // every field
		{"escaped strings", "a\"b\\<c>&\u00e9\x01", 1, []ledger.ClientUser{{UID: 2, Srv: "\u2028x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&Checkpoint{Agent: tc.agent, T: tc.t, Users: tc.users})
			if err != nil {
				t.Fatal(err)
			}
			got := appendCheckpoint([]byte("prefix"), tc.agent, tc.t, tc.users)
			if string(got) != "prefix"+string(want) {
				t.Errorf("got  %s\nwant prefix%s", got, want)
			}
		})
	}
}

// The queue keeps order across the reclaiming of its popped half.
func TestFIFO(t *testing.T) {
	var q fifo[int]
	next, want := 0, 0
	for round := 0; round < 50; round++ {
		for k := 0; k < round%7+1; k++ {
			q.push(next)
			next++
		}
		for k := 0; k < round%5+1; k++ {
			v, ok := q.front()
			if !ok {
				break
			}
			if v != want {
				t.Fatalf("round %d: front %d, want %d", round, v, want)
			}
			q.pop()
			want++
		}
		if q.len() != next-want {
			t.Fatalf("round %d: len %d, want %d", round, q.len(), next-want)
		}
	}
}

func BenchmarkCheckpointEncode(b *testing.B) {
	for _, n := range []int{15000} {
		users := make([]ledger.ClientUser, n)
		for i := range users {
			users[i] = ledger.ClientUser{UID: uint32(i), Srv: "127.0.0.1:7000", Shake: uint64(i * 3), Got: uint64(i), None: uint64(i * 2)}
		}
		b.Run(fmt.Sprintf("users=%d/enc=append", n), func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = appendCheckpoint(buf[:0], "bench", 1, users)
			}
			b.ReportMetric(float64(len(buf)), "bytes")
		})
		b.Run(fmt.Sprintf("users=%d/enc=json", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(&Checkpoint{Agent: "bench", T: 1, Users: users}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkpointNow runs one checkpoint as the checkpoint loop does.
func checkpointNow(t *testing.T, e *Engine) {
	t.Helper()
	e.opMu.Lock()
	err := e.checkpoint()
	e.opMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

// readCheckpoint is counters.json.
func readCheckpoint(t *testing.T, dir string) Checkpoint {
	t.Helper()
	cp, err := readCounters(filepath.Join(dir, CountersFile))
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// openCheckpoint opens counters.json as it is now; replaced says later
// whether a whole write has renamed another file over it since (a refresh
// of T writes into it).
func openCheckpoint(t *testing.T, dir string) (replaced func() bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, CountersFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() bool {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Nlink == 0
	}
}

// An idle agent rewrites only the time of its checkpoint, in place; any
// change of a counter (a SHAKE, its answer) or of the users held brings
// back a whole write, and every checkpoint holds what Users says.
func TestCheckpointIdle(t *testing.T) {
	srv, addr := startServer(t, t.TempDir(), "127.0.0.1:0", server.Config{})
	defer srv.Close()
	dir := t.TempDir()
	const users = 200
	e := newEngine(t, Config{Name: "idle", Servers: []string{addr}, DataDir: dir})
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: users}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every user logged in", func() bool { return e.Status().Established == users })
	checkpointNow(t, e)
	first := readCheckpoint(t, dir)
	if !slices.Equal(first.Users, e.Users()) {
		t.Fatalf("checkpoint of %d users differs from Users", len(first.Users))
	}

	// Idle: T moves on, nothing else does, and the file is the same one.
	replaced := openCheckpoint(t, dir)
	var idle Checkpoint
	waitFor(t, 5*time.Second, "a later T", func() bool {
		checkpointNow(t, e)
		idle = readCheckpoint(t, dir)
		return idle.T > first.T
	})
	if replaced() {
		t.Errorf("an idle checkpoint wrote the whole file again")
	}
	if !slices.Equal(idle.Users, first.Users) || idle.Agent != first.Agent {
		t.Errorf("an idle checkpoint changed more than T")
	}

	// A few SHAKEs: the counters change, the file is written again.
	plan, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: users}}, time.Now(), 400)
	if err != nil {
		t.Fatal(err)
	}
	e.SetPlan(plan)
	waitFor(t, 10*time.Second, "SHAKEs sent", func() bool { return e.Status().Totals.Sent >= users })
	e.SetPlan(schedule.Plan{ID: 2, Users: plan.Users, Stride: plan.Stride, Segments: []schedule.Segment{{T: time.Now().UnixNano(), Q: 0}}})
	waitFor(t, 10*time.Second, "every SHAKE answered", func() bool {
		for _, u := range e.Users() {
			if u.Pending != 0 {
				return false
			}
		}
		return true
	})
	checkpointNow(t, e)
	if !replaced() {
		t.Errorf("counters changed, the checkpoint was not written again")
	}
	busy := readCheckpoint(t, dir)
	if !slices.Equal(busy.Users, e.Users()) {
		t.Errorf("checkpoint after SHAKEs differs from Users")
	}
	var shakes uint64
	for _, u := range busy.Users {
		shakes += u.Shake
	}
	if shakes < users {
		t.Errorf("checkpoint counts %d SHAKEs, want at least %d", shakes, users)
	}

	// Idle again, then the users held change (their counters move to the
	// retired ones): written again, and still what Users says.
	checkpointNow(t, e)
	replaced = openCheckpoint(t, dir)
	checkpointNow(t, e)
	if replaced() {
		t.Errorf("an idle checkpoint after SHAKEs wrote the whole file again")
	}
	e.Disconnect()
	checkpointNow(t, e)
	if !replaced() {
		t.Errorf("users dropped, the checkpoint was not written again")
	}
	if !slices.Equal(readCheckpoint(t, dir).Users, e.Users()) {
		t.Errorf("checkpoint after Disconnect differs from Users")
	}
}

// A refresh writes T's digits in place, and declines (so that the whole
// file is written) when T has another number of digits or would straddle
// a sector.
func TestCheckpointRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), CountersFile)
	head := `{"agent":"a","t":`
	if err := os.WriteFile(path, []byte(head+`999,"users":null}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := cpFile{f: f, tOff: int64(len(head)), tLen: 3}
	defer c.close()
	for _, tc := range []struct {
		t    int64
		done bool
		want string
	}{
		{998, true, `998`},   // same width: in place
		{1000, false, `998`}, // one digit more: left to a whole write
		{5, false, `998`},    // one digit fewer
		{123, true, `123`},   // in place again
	} {
		if done := c.refresh(tc.t); done != tc.done {
			t.Errorf("refresh(%d) = %v; want %v", tc.t, done, tc.done)
		}
		b, _ := os.ReadFile(path)
		if want := head + tc.want + `,"users":null}`; string(b) != want {
			t.Errorf("after refresh(%d): %s, want %s", tc.t, b, want)
		}
	}
	c.tOff = durable.SectorLen - 2 // digits 510..512: across a sector boundary
	if c.refresh(123) {
		t.Errorf("refresh across a sector boundary")
	}
}
