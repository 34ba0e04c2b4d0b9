package agents

import (
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server"
)

// Pairs of loops that merge and split every few milliseconds, in the agent
// and in the reference server alike (the thresholds are netpoll's), while
// users fire, receive envelopes and open them: every SHAKE is counted
// exactly once on both sides, no answer is lost and both stop cleanly. A
// loop's state is only ever run by one goroutine at a time (run with
// -race).
func TestPairsHandOverUnderLoad(t *testing.T) {
	defer func(w time.Duration, sa, mb float64, sn, mn int) {
		netpoll.MeterWindow, netpoll.SplitAbove, netpoll.MergeBelow, netpoll.SplitAfter, netpoll.MergeAfter = w, sa, mb, sn, mn
	}(netpoll.MeterWindow, netpoll.SplitAbove, netpoll.MergeBelow, netpoll.SplitAfter, netpoll.MergeAfter)
	// Any busy share splits a merged pair and merges a split one.
	netpoll.MeterWindow, netpoll.SplitAbove, netpoll.MergeBelow, netpoll.SplitAfter, netpoll.MergeAfter = time.Millisecond, -1, 1e9, 1, 1

	srv, addr := startServer(t, t.TempDir(), "127.0.0.1:0", server.Config{})
	defer srv.Close()
	const users = 2000
	e := newEngine(t, Config{Name: "pairs", Servers: []string{addr}, Loops: 4, paired: true})
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: users}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every user logged in", func() bool { return e.Status().Established == users })

	plan, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: users}}, time.Now().Add(500*time.Millisecond), 2000)
	if err != nil {
		t.Fatal(err)
	}
	t0 := plan.Segments[0].T
	if _, err := plan.SetRate(0, time.Unix(0, t0+3e9)); err != nil {
		t.Fatal(err)
	}
	e.SetPlan(plan)
	if err := srv.Shake(server.ShakeRequest{Rate: 300, Total: 600, MinAmount: 1, MaxAmount: 500}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Send(server.SendRequest{Rate: 20, Total: 20, Recipients: 3, MinAmount: 300, MaxAmount: 900}); err != nil {
		t.Fatal(err)
	}
	planned := plan.FiresIn(t0/1e9) + plan.FiresIn(t0/1e9+1) + plan.FiresIn(t0/1e9+2) + plan.FiresIn(t0/1e9+3)
	waitFor(t, 30*time.Second, "every SHAKE answered and every grant durable", func() bool {
		tot := e.Status().Totals
		if int64(tot.Sent) != planned || tot.Sent != tot.Got+tot.None+tot.Empty+tot.Overloaded {
			return false
		}
		for _, u := range e.Users() {
			if u.Pending != 0 {
				return false
			}
		}
		return true
	})

	tot := e.Status().Totals
	st := srv.Stats()
	if tot.Missed != 0 || tot.Unanswered != 0 || tot.Lost != 0 || st.Requests.Shake != planned {
		t.Errorf("planned %d: sent %d, missed %d, unanswered %d, lost %d; server received %d",
			planned, tot.Sent, tot.Missed, tot.Unanswered, tot.Lost, st.Requests.Shake)
	}
	if int64(tot.Got) != st.Results.Got || tot.Got == 0 {
		t.Errorf("grants: agent %d, server %d", tot.Got, st.Results.Got)
	}
	var opened uint64
	for _, u := range e.Users() {
		opened += u.OpenAnswered
	}
	if opened == 0 {
		t.Error("no envelope was opened")
	}
	var handovers int64
	for i := 1; i < len(e.loops); i += 2 { // one pair per guest
		handovers += e.loops[i].pair.Handovers()
	}
	t.Logf("%d hand-overs", handovers)
	// Over 3 s of firing, a hand-over every few milliseconds.
	if n := handovers; n < 100 {
		t.Errorf("%d hand-overs: the pairs did not merge and split", n)
	}
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close hangs")
	}
}
