package server

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
