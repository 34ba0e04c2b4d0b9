package coordinator

import (
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server/ledger"
)

// TestServerUnknownCounts: a server's crash window is bounded, per agent
// holding its users, by the fires the plan gave them from RestartSlack
// before the checkpoint to RestartSlack after the restart, plus the
// ENVELOPEs and logins their agent journaled then; a restart with no
// known window leaves the counters lost.
func TestServerUnknownCounts(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	users := []schedule.Range{{Lo: 0, Hi: 20}}
	plan, err := schedule.NewPlan(1, users, start, 100) // 100 SHAKE/s over 20 users: 5/s each
	if err != nil {
		t.Fatal(err)
	}
	hist := []epoch{{start: plan.Segments[0].T, plan: &plan}}
	servers := []string{"s0", "s1"}
	held := map[string][]schedule.Range{"h01": {{Lo: 0, Hi: 10}}, "h02": {{Lo: 10, Hi: 20}}}
	cp := start.Add(10 * time.Second).UnixMilli()
	restart := start.Add(11 * time.Second).UnixMilli()
	ups := map[string]*api.AgentLedger{
		"h01": {Records: []ledger.Record{
			{Ev: ledger.EvNotify, UID: 2, T: cp, Srv: "s0"},         // in the window, on s0
			{Ev: ledger.EvLogin, UID: 4, T: restart, Srv: "s0"},     // in the window, on s0
			{Ev: ledger.EvNotify, UID: 3, T: cp, Srv: "s1"},         // another server
			{Ev: ledger.EvNotify, UID: 2, T: cp - 60000, Srv: "s0"}, // long before
		}},
	}
	out, lost := serverUnknownCounts(0, servers, held, ups, hist, []serverRestart{{CheckpointMillis: cp, RestartMillis: restart, Bounded: true}})
	if lost || len(out) != 2 {
		t.Fatalf("bounds %+v (lost %v): want one per agent", out, lost)
	}
	// The window is 1 s and 2 s of slack on each side: 5 s, 5 fires a
	// second for each of the 5 users an agent holds on s0.
	for i, want := range []uint64{125 + 2, 125} {
		b := out[i]
		if b.Count != want || len(b.UIDs) != 5 || b.UIDs[0]%2 != 0 || b.Srv != "" {
			t.Errorf("bound %d: %+v, want %d requests of 5 even uids", i, b, want)
		}
	}
	if _, lost := serverUnknownCounts(0, servers, held, ups, hist, []serverRestart{{Bounded: false}}); !lost {
		t.Error("a restart with no window did not leave the counters lost")
	}
}
