package server

import (
	"bytes"
	"encoding/json"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

type grant struct{ env, uid, amount uint32 }

// TestCrashLosesNothingTheClientSaw kills 'hbctl server' with SIGKILL in
// the middle of a release while clients are being granted envelopes,
// restarts it on the same data dir and checks the journal against what
// the clients received.
func TestCrashLosesNothingTheClientSaw(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hbctl server as a child process")
	}
	dir := t.TempDir()
	srv := startChild(t, dir, "--sets", "8", "--seed", "7")
	srv.post("/v1/shake", `{"rate":5000,"total":200000}`)

	const users = 40
	var mu sync.Mutex
	var got []grant
	var wg sync.WaitGroup
	for u := uint32(0); u < users; u++ {
		c := dial(t, srv.wire)
		c.login(u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.nc.Write(wire.Append(nil, ptr(wire.Shake(now(), u)))); err != nil {
					return
				}
				f, err := c.read()
				if err != nil {
					return // the server was killed
				}
				if f.Result() == wire.ResultGot {
					mu.Lock()
					got = append(got, grant{f.Env(), u, f.Amount()})
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 20*time.Second, "grants before the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 500
	})
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	wg.Wait()

	srv2 := startChild(t, dir, "--sets", "8", "--seed", "7")
	rp, err := ledger.Read(bytes.NewReader(srv2.get("/v1/ledger")))
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := json.Unmarshal(srv2.get("/v1/stats"), &st); err != nil {
		t.Fatal(err)
	}
	issued := map[uint32]uint32{}
	granted := map[grant]bool{}
	var issuedAmount, grantedAmount int64
	var maxID uint32
	for _, r := range rp.Records {
		switch r.Ev {
		case ledger.EvIssue:
			if _, dup := issued[r.Env]; dup {
				t.Fatalf("envelope %#x issued twice", r.Env)
			}
			issued[r.Env] = r.Amount
			issuedAmount += int64(r.Amount)
			maxID = max(maxID, r.Env)
		case ledger.EvGrant:
			if issued[r.Env] != r.Amount {
				t.Fatalf("grant %+v of an envelope not issued before it", r)
			}
			granted[grant{r.Env, r.UID, r.Amount}] = true
			grantedAmount += int64(r.Amount)
		}
	}
	mu.Lock()
	for _, g := range got {
		if !granted[g] {
			t.Errorf("client saw grant %+v, not in the journal", g)
		}
	}
	t.Logf("client saw %d grants; journal: %d issued, %d granted", len(got), len(issued), len(granted))
	mu.Unlock()
	var userRows []ledger.ServerUser
	for _, line := range bytes.Split(srv2.get("/v1/users"), []byte("\n")) {
		if len(line) > 0 {
			var u ledger.ServerUser
			if err := json.Unmarshal(line, &u); err != nil {
				t.Fatal(err)
			}
			userRows = append(userRows, u)
		}
	}
	checkIncarnation(t, st, rp.Records, userRows, len(issued))
	// issued = granted + pool, in count and cents, from stats and ledger.
	if st.Shake.Issued != int64(len(issued)) || st.Shake.IssuedAmount != issuedAmount ||
		st.Shake.Granted != int64(len(granted)) || st.Shake.GrantedAmount != grantedAmount ||
		st.Shake.Issued != st.Shake.Granted+st.Shake.Pool || st.Shake.IssuedAmount != st.Shake.GrantedAmount+st.Shake.PoolAmount {
		t.Fatalf("stats %+v; ledger issued %d (%d cents) granted %d (%d cents)",
			st.Shake, len(issued), issuedAmount, len(granted), grantedAmount)
	}
	// New ids continue after the old ones.
	srv2.post("/v1/shake", `{"rate":100000,"total":100}`)
	c := dial(t, srv2.wire)
	c.login(1)
	waitFor(t, 10*time.Second, "second release", func() bool {
		var st Stats
		json.Unmarshal(srv2.get("/v1/stats"), &st)
		return !st.Releasing.Shake && st.Shake.Issued == int64(len(issued))+100
	})
	rp, err = ledger.Read(bytes.NewReader(srv2.get("/v1/ledger")))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rp.Records {
		if r.Ev != ledger.EvIssue {
			continue
		}
		if n++; n > len(issued) && r.Env <= maxID {
			t.Fatalf("new record %+v collides with ids up to %#x", r, maxID)
		}
	}
	if n != len(issued)+100 {
		t.Fatalf("%d issues, want %d", n, len(issued)+100)
	}
}

// checkIncarnation checks what a restart after a SIGKILL reports: one
// restart with the window its counters missed, the release it cut short
// (how many of how many), and per-user counters that resumed from the
// checkpoint and the journal, not from zero.
func checkIncarnation(t *testing.T, st Stats, recs []ledger.Record, users []ledger.ServerUser, issued int) {
	t.Helper()
	if st.Incarnation != 2 || len(st.Restarts) != 1 {
		t.Fatalf("incarnation %d, restarts %+v: want the second, after one crash", st.Incarnation, st.Restarts)
	}
	if r := st.Restarts[0]; !r.Bounded || r.CheckpointMillis <= 0 || r.CheckpointMillis > r.RestartMillis || r.Incarnation != 2 {
		t.Fatalf("restart %+v", r)
	}
	if len(st.Interrupted) != 1 {
		t.Fatalf("interrupted %+v: want the shake release", st.Interrupted)
	}
	if in := st.Interrupted[0]; in.Kind != ledger.ReleaseShake || in.Total != 200000 || in.Done != issued || in.State != ReleaseInterrupted {
		t.Fatalf("interrupted %+v: want shake, %d of 200000", in, issued)
	}
	if r := st.Releases.Shake; r == nil || r.State != ReleaseInterrupted || r.Done != issued {
		t.Fatalf("last shake release %+v", r)
	}
	grants := map[uint32]uint64{}
	for _, r := range recs {
		if r.Ev == ledger.EvGrant {
			grants[r.UID]++
		}
	}
	for _, u := range users {
		if u.Got != grants[u.UID] || u.Shake < u.Got+u.None {
			t.Errorf("uid %d counters %+v; the journal has %d grants", u.UID, u, grants[u.UID])
		}
		delete(grants, u.UID)
	}
	if len(grants) > 0 {
		t.Errorf("users with grants and no counters: %v", grants)
	}
}

func TestChildStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hbctl server as a child process")
	}
	dir := t.TempDir()
	srv := startChild(t, dir, "--log-level", "info")
	c := dial(t, srv.wire)
	c.login(1)
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, srv.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	for _, want := range []string{"open-file limit", "max_connections=", "journal closed"} {
		if !bytes.Contains(srv.log.Bytes(), []byte(want)) {
			t.Errorf("log lacks %q:\n%s", want, srv.log)
		}
	}
}
