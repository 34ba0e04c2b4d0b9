package agents

import (
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server"
)

// The server is closed mid-run and restarted on the same data dir and
// address: the agent reconnects everyone at no more than its connect rate,
// counts what it could not send or was not answered, and its per-user
// counters still add up.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, addr := startServer(t, dir, "127.0.0.1:0", server.Config{})
	const users, connRate = 2000, 1000
	e := newEngine(t, Config{Name: "r", Servers: []string{addr}, ConnectRate: connRate, BackoffMin: 20 * time.Millisecond})
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: users}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every user logged in", func() bool { return e.Status().Established == users })
	plan, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: users}}, time.Now(), 2000)
	if err != nil {
		t.Fatal(err)
	}
	e.SetPlan(plan)
	waitFor(t, 10*time.Second, "SHAKEs flowing", func() bool { return e.Status().Totals.Sent > 1000 })
	srv.Close()
	waitFor(t, 10*time.Second, "every connection to drop", func() bool { return e.Status().Established == 0 })
	waitFor(t, 10*time.Second, "fires to be missed", func() bool { return e.Status().Totals.Missed > 100 })

	restarted := time.Now()
	srv2, _ := startServer(t, dir, addr, server.Config{})
	defer srv2.Close()
	wins := e.TakeWindows() // the first connects are rate-limited too
	waitFor(t, 30*time.Second, "every user back", func() bool {
		wins = append(wins, e.TakeWindows()...)
		return e.Status().Established == users
	})
	took := time.Since(restarted)
	sum := func() (n uint64) {
		for _, w := range wins {
			n += w.ConnEstablished
		}
		return n
	}
	waitFor(t, 5*time.Second, "the windows of the reconnects", func() bool {
		wins = append(wins, e.TakeWindows()...)
		return sum() >= 2*users
	})
	// Tokens: the burst the limiter starts with, then the rate.
	burst := connRate / 100
	if min := time.Duration(float64(users-2*burst) / connRate * float64(time.Second)); took < min {
		t.Errorf("%d users reconnected in %v: faster than %d/s", users, took, connRate)
	}
	var re uint64
	for _, w := range wins {
		if w.ConnEstablished > uint64(connRate+burst) {
			t.Errorf("second %d: %d connections established, bound %d", w.Second, w.ConnEstablished, connRate+burst)
		}
		re += w.ConnEstablished
	}
	if re != 2*users { // the first logins, then the reconnects
		t.Errorf("%d logins counted in windows for %d users connected twice", re, users)
	}

	e.SetPlan(schedule.Plan{ID: 2, Users: plan.Users, Stride: plan.Stride, Segments: []schedule.Segment{{T: (time.Now().Unix() + 1) * 1e9, Q: 0}}})
	waitFor(t, 15*time.Second, "every SHAKE to be answered or lost", func() bool {
		for _, u := range e.Users() {
			if u.Pending != 0 {
				return false
			}
		}
		return e.Status().Rate == 0
	})
	tot := e.Status().Totals
	var shake, ended uint64
	for _, u := range e.Users() {
		shake += u.Shake
		ended += u.Got + u.None + u.Overloaded + u.Lost
	}
	if shake != tot.Sent || shake != ended {
		t.Errorf("sent %d, per-user SHAKEs %d, ended %d", tot.Sent, shake, ended)
	}
	if tot.Missed == 0 || tot.ConnClosed != users {
		t.Errorf("missed %d, closed %d; want misses and %d closed", tot.Missed, tot.ConnClosed, users)
	}
	t.Logf("reconnected %d users in %v; totals %+v", users, took, tot)
}

// An agent closed and reopened on its data dir resumes its counters.
func TestResumeCounters(t *testing.T) {
	dir := t.TempDir()
	srv, addr := startServer(t, t.TempDir(), "127.0.0.1:0", server.Config{})
	defer srv.Close()
	if err := srv.Shake(server.ShakeRequest{Rate: 1000, Total: 100, MinAmount: 1, MaxAmount: 10}); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Name: "p", Servers: []string{addr}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: 50}}); err != nil {
		t.Fatal(err)
	}
	plan, _ := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: 50}}, time.Now(), 500)
	e.SetPlan(plan)
	waitFor(t, 10*time.Second, "grants", func() bool { return e.Status().Totals.Got > 10 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, Config{Name: "p", Servers: []string{addr}, DataDir: dir})
	after := e2.Users()
	var got, shake, ended uint64
	for _, u := range after {
		got += u.Got
		shake += u.Shake
		ended += u.Got + u.None + u.Overloaded + u.Lost
	}
	grants := 0
	for _, r := range readLedger(t, dir+"/"+LedgerFile) {
		if r.Ev == "grant" {
			grants++
		}
	}
	if len(after) != 50 || got != uint64(grants) || shake == 0 || shake != ended {
		t.Errorf("resumed %d users, got %d (journal %d), shake %d, ended %d", len(after), got, grants, shake, ended)
	}
}
