package scenario

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/server"
)

// TestWaitUntilFailsOnAnInterruptedRelease: a real server whose shake
// release was cut short by a stop reports it, on the same data dir, as
// interrupted (how many of how many); wait_until shake_released then
// fails naming it instead of passing as if it had finished.
func TestWaitUntilFailsOnAnInterruptedRelease(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s1, err := server.New(server.Config{DataDir: dir, Sets: 2, Logger: quiet, AdminToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	// A release far longer than the test: the stop cuts it short.
	if err := s1.Shake(server.ShakeRequest{Rate: 1, Total: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := server.New(server.Config{DataDir: dir, Sets: 2, Logger: quiet, AdminToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st := s2.Stats()
	if len(st.Interrupted) != 1 || st.Interrupted[0].Total != 1000 || st.Interrupted[0].Done >= 1000 {
		t.Fatalf("interrupted %+v: want the shake release, cut short", st.Interrupted)
	}
	adm := httptest.NewServer(s2.Admin())
	defer adm.Close()

	sc := scenarioFor(t, adm.URL, "steps:\n  - shake: {rate: 100, total: 1}\n  - {wait_until: shake_released, timeout: 5s}\n")
	_, err = Run(context.Background(), sc, Config{Control: &fakeCoordinator{}})
	if err == nil || !strings.Contains(err.Error(), "shake release interrupted") || !strings.Contains(err.Error(), "of 1000 released") {
		t.Fatalf("wait_until on an interrupted release: %v", err)
	}
	// A send never ran there: waiting for it is not failed by the shake's.
	sc = scenarioFor(t, adm.URL, "steps:\n  - send: {rate: 100, total: 1}\n  - {wait_until: send_released, timeout: 5s}\n")
	if _, err := Run(context.Background(), sc, Config{Control: &fakeCoordinator{}}); err != nil {
		t.Fatalf("wait_until send_released: %v", err)
	}
}
