package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// diskStats is the part of the server's GET /v1/stats this test reads.
type diskStats struct {
	Shake struct {
		Granted int64 `json:"granted"`
	} `json:"shake"`
	Journal struct {
		Writable      bool   `json:"writable"`
		FailedCommits int64  `json:"failed_commits"`
		Refused       int64  `json:"refused"`
		LastError     string `json:"last_error"`
	} `json:"journal"`
}

func (s verifyServer) diskStats(t *testing.T) diskStats {
	t.Helper()
	req, _ := http.NewRequest("GET", s.admin+"/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st diskStats
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// keepFull keeps the file system of path full, writing to path whatever
// room appears, until stop is closed; then it removes path and returns.
func keepFull(path string, stop <-chan struct{}, done chan<- error) {
	f, err := os.Create(path)
	if err != nil {
		done <- err
		return
	}
	chunks := [][]byte{make([]byte, 64<<10), make([]byte, 4<<10), make([]byte, 512)}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, c := range chunks {
			for {
				if _, err := f.Write(c); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						f.Close()
						done <- err
						return
					}
					break
				}
			}
		}
		select {
		case <-stop:
			f.Close()
			done <- os.Remove(path)
			return
		case <-tick.C:
		}
	}
}

// A server whose data dir fills up during a shake and a send release
// grants, pays and notifies nothing it has not journaled: it answers 17 (overloaded), counts it,
// says why in its log at most once a second, and carries on when space
// returns; verify ledger then reconciles.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the server's data dir; run as root to test the full-disk behaviour")
	}
	tmp := t.TempDir()
	srvDir := filepath.Join(tmp, "srv")
	if err := os.MkdirAll(srvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "hbctl-diskfull", srvDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); the full-disk test needs it", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", srvDir).Run() })

	sp := start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", srvDir, "--log-level", "info")
	s := serverOf(t, sp, srvDir)
	r := startCoordinatorAndAgent(t, tmp)
	if res := r.hb("connect", "--server", s.wire, "--admin", s.admin, "--server-data-dir", s.dir, "--users", "100", "--wait", "--timeout", "30s"); res.code != 0 {
		t.Fatalf("connect: exit %d\n%s", res.code, res.err)
	}
	if res := r.hb("qps", "set", "200", "--at", "+1s"); res.code != 0 {
		t.Fatalf("qps set: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("shake", "--rate", "300", "--total", "3000"); res.code != 0 {
		t.Fatalf("shake: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("send", "--rate", "20", "--total", "200", "--recipients", "3"); res.code != 0 {
		t.Fatalf("send: exit %d: %s", res.code, res.err)
	}
	waitFor(t, 20*time.Second, "grants", func() bool { return s.diskStats(t).Shake.Granted > 50 })

	stop, filled := make(chan struct{}), make(chan error, 1)
	go keepFull(filepath.Join(srvDir, "filler"), stop, filled)
	stopped := false
	stopFilling := func() {
		if !stopped {
			stopped = true
			close(stop)
			if err := <-filled; err != nil {
				t.Errorf("filler: %v", err)
			}
		}
	}
	t.Cleanup(stopFilling)
	waitFor(t, 20*time.Second, "the journal to fail and refuse", func() bool {
		st := s.diskStats(t)
		return !st.Journal.Writable && st.Journal.Refused > 0
	})
	full := s.diskStats(t)
	waitFor(t, 20*time.Second, "more refusals while full", func() bool {
		return s.diskStats(t).Journal.Refused > full.Journal.Refused+100
	})
	still := s.diskStats(t)
	t.Logf("while full: %+v then %+v", full, still)
	if !strings.Contains(still.Journal.LastError, "no space left") {
		t.Errorf("last error %q does not say why", still.Journal.LastError)
	}
	stopFilling()
	waitFor(t, 20*time.Second, "recovery: writable and granting again", func() bool {
		st := s.diskStats(t)
		return st.Journal.Writable && st.Shake.Granted > still.Shake.Granted+20
	})
	waitFor(t, 60*time.Second, "the releases to finish", func() bool { return !s.releasing(t) })

	res := r.hb("verify", "ledger", "--grace", "5s")
	t.Logf("verify ledger: exit %d\n%s", res.code, res.out)
	if res.code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	sp.kill()
	logs, _ := os.ReadFile(sp.log)
	lines := strings.Count(string(logs), "journal cannot be written") + strings.Count(string(logs), "journal still cannot be written")
	if lines == 0 {
		t.Errorf("the server never said why:\n%s", logs)
	}
	t.Logf("%d log lines about the journal", lines)
}
