package server

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/ledger"
)

func sortedUsers(s *Server) []ledger.ServerUser {
	us := s.Users()
	slices.SortFunc(us, func(a, b ledger.ServerUser) int { return int(a.UID) - int(b.UID) })
	return us
}

// TestCleanStopKeepsCountersAndRecordsNoRestart: a clean stop writes the
// counters and the next start resumes them exactly, recording no restart;
// a checkpoint that is not one makes the start fail rather than count from
// zero unnoticed.
func TestCleanStopKeepsCountersAndRecordsNoRestart(t *testing.T) {
	dir := t.TempDir()
	s1, addr := startServer(t, Config{DataDir: dir, Sets: 4, Users: UIDRange{Lo: 0, Hi: 99, Set: true}})
	for uid := uint32(0); uid < 5; uid++ {
		c := dial(t, addr)
		c.login(uid)
		for range uid + 1 {
			c.shake()
		}
	}
	before := sortedUsers(s1)
	if len(before) != 5 || before[4].Shake != 5 {
		t.Fatalf("counters before %+v", before)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{DataDir: dir, Sets: 4, Users: UIDRange{Lo: 0, Hi: 99, Set: true}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	after := sortedUsers(s2)
	st := s2.Stats()
	s2.Close()
	if !slices.Equal(before, after) {
		t.Fatalf("counters after a clean stop\n%+v\nwant\n%+v", after, before)
	}
	if st.Incarnation != 2 || len(st.Restarts) != 0 {
		t.Fatalf("incarnation %d, restarts %+v: a clean stop is no crash", st.Incarnation, st.Restarts)
	}

	if err := os.WriteFile(filepath.Join(dir, CountersName), []byte("HBUC garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{DataDir: dir, Logger: discardLogger()}); !errors.Is(err, ErrCorruptCounters) {
		t.Fatalf("corrupt checkpoint: %v, want ErrCorruptCounters", err)
	}
}

// TestIdleCheckpointRewritesOnlyItsTime: while no counter moves the
// checkpoint's time still advances every second, written into the same
// file; a SHAKE brings back a whole write (a new file renamed over it)
// holding the new counters.
func TestIdleCheckpointRewritesOnlyItsTime(t *testing.T) {
	dir := t.TempDir()
	s, addr := startServer(t, Config{DataDir: dir, Sets: 4})
	path := filepath.Join(dir, CountersName)
	c := dial(t, addr)
	c.login(7)
	c.shake()
	read := func() ([]ledger.ServerUser, int64) {
		us, ts, err := readCounters(path)
		if err != nil {
			t.Fatal(err)
		}
		return us, ts
	}
	waitFor(t, 5*time.Second, "the SHAKE checkpointed", func() bool {
		us, _ := read()
		return len(us) == 1 && us[0].Shake == 1
	})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// replaced: a whole write has renamed another file over the one open.
	replaced := func() bool {
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Nlink == 0
	}
	_, t0 := read()
	waitFor(t, 5*time.Second, "two later checkpoint times", func() bool {
		_, ts := read()
		return ts >= t0+2*CheckpointEvery.Milliseconds()-100
	})
	if replaced() {
		t.Fatal("an idle checkpoint wrote the whole file again")
	}
	if us, _ := read(); len(us) != 1 || us[0].Shake != 1 {
		t.Fatalf("idle checkpoint rows %+v", us)
	}

	c.shake()
	waitFor(t, 5*time.Second, "the second SHAKE checkpointed", func() bool {
		us, _ := read()
		return len(us) == 1 && us[0].Shake == 2
	})
	if !replaced() {
		t.Error("counters changed, yet written in place")
	}
	if got, _ := read(); !slices.Equal(got, sortedUsers(s)) {
		t.Errorf("checkpoint %+v differs from Users %+v", got, sortedUsers(s))
	}
}
