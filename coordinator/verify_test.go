package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server/ledger"
)

// TestUnknownShakes: a restart's bound is every fire the plan gave the
// agent's users from RestartSlack before the checkpoint to the restart,
// split by server, plus one OPEN per ENVELOPE journaled in the span; the
// span is passed on.
func TestUnknownShakes(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	// 100 users at 100/s: every user fires once a second.
	p, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: 100}}, t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	hist := []epoch{{start: t0.UnixNano(), plan: &p}}
	held := []schedule.Range{{Lo: 0, Hi: 50}}
	servers := []string{"s0", "s1"}
	cp := t0.Add(10 * time.Second).UnixMilli()
	up := &api.AgentLedger{
		Restarts: []api.Restart{{CheckpointMillis: cp, RestartMillis: cp + 2000}},
		Records: []ledger.Record{
			{Ev: ledger.EvNotify, Env: 1, UID: 3, Srv: "s1", T: cp + 500},
			{Ev: ledger.EvNotify, Env: 2, UID: 4, Srv: "s0", T: cp + 3000}, // after the restart
			{Ev: ledger.EvGrant, Env: 3, UID: 4, Srv: "s0", T: cp + 100},
		},
	}
	got := unknownShakes(held, servers, up, hist)
	if len(got) != 2 {
		t.Fatalf("%d entries, want one per server: %+v", len(got), got)
	}
	// The span is RestartSlack (2 s) + 2 s: four fires per user.
	for i, want := range []uint64{25 * 4, 25*4 + 1} {
		u := got[i]
		if u.Srv != servers[i] || u.Count != want || len(u.UIDs) != 25 {
			t.Errorf("entry %d: srv %s count %d users %d; want %s %d 25", i, u.Srv, u.Count, len(u.UIDs), servers[i], want)
		}
		if slices.ContainsFunc(u.UIDs, func(uid uint32) bool { return uid%2 != uint32(i) || uid >= 50 }) {
			t.Errorf("entry %d lists users of another server or agent: %v", i, u.UIDs)
		}
		if u.FromMillis != cp-RestartSlack.Milliseconds() || u.ToMillis != cp+2000 {
			t.Errorf("entry %d span [%d, %d], want [%d, %d]", i, u.FromMillis, u.ToMillis, cp-RestartSlack.Milliseconds(), cp+2000)
		}
	}

	// After the agent died the plan went on without its users: no fires.
	q, err := schedule.NewPlan(2, []schedule.Range{{Lo: 50, Hi: 100}}, t0.Add(9*time.Second), 50)
	if err != nil {
		t.Fatal(err)
	}
	hist = append(hist, epoch{start: q.Segments[0].T, plan: &q})
	got = unknownShakes(held, servers, up, hist)
	// Only [cp-2s, cp-1s) of plan 1 remains: one fire per user.
	if got[0].Count != 25 || got[1].Count != 26 {
		t.Errorf("with a re-plan: counts %d, %d; want 25, 26", got[0].Count, got[1].Count)
	}

	if unknownShakes(held, servers, &api.AgentLedger{}, hist) != nil {
		t.Error("an agent never restarted has a bound")
	}
}

// TestExitCode: problems are 2; an incomplete verdict is 2 unless only
// servers without an admin API were skipped and partial results are
// allowed; otherwise the verdict's code.
func TestExitCode(t *testing.T) {
	incomplete := &checks.Report{Verdict: checks.VerdictIncomplete,
		Servers: []checks.ServerSummary{{Name: "a"}, {Name: "b", ClientOnly: true}},
		Skipped: []checks.Skipped{{Server: "b", Check: checks.CheckGrantsMatch}}}
	noStats := &checks.Report{Verdict: checks.VerdictIncomplete,
		Servers: []checks.ServerSummary{{Name: "a"}},
		Skipped: []checks.Skipped{{Server: "a", Check: checks.CheckPoolBalance}}}
	cases := []struct {
		name    string
		resp    api.VerifyResponse
		partial bool
		want    int
	}{
		{"reconciled", api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictReconciled}}, false, 0},
		{"discrepancies", api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictDiscrepancies}}, true, 1},
		{"problem", api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictReconciled}, Problems: []string{"x"}}, true, 2},
		{"no report", api.VerifyResponse{}, true, 2},
		{"client only", api.VerifyResponse{Report: incomplete}, false, 2},
		{"client only, partial allowed", api.VerifyResponse{Report: incomplete}, true, 0},
		{"stats missing, partial allowed", api.VerifyResponse{Report: noStats}, true, 2},
	}
	for _, c := range cases {
		if got := exitCode(&c.resp, c.partial); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}
