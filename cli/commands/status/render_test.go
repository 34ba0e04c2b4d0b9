package status

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

func TestRender(t *testing.T) {
	st := api.Status{
		Now:  1_800_000_010_000,
		Plan: api.PlanStatus{ID: 2, Users: 3000, Rate: 3000, Active: true, Segments: []api.RateSegment{{T: 1_800_000_000, Q: 3000}, {T: 1_800_000_020, Q: 6000}}},
		Agents: []api.AgentInfo{
			{Name: "h01", Alive: true, Users: 1500, Conns: 1500, OffsetMs: -250.125, DelayMs: 0.04, LastSeenMs: 1_800_000_009_500},
			{Name: "h02", Alive: false, Users: 1500, Conns: 1400, LastSeenMs: 1_800_000_005_000},
		},
		Connections: api.Connections{Target: 3000, Established: 2900},
		Last: &api.SecondSummary{T: 1_800_000_008, Target: 3000, Counters: api.Counters{Sent: 3000, Received: 2999, Got: 7, None: 2992},
			Shake: api.Percentiles{Count: 2999, P50: 0.1, P90: 0.2, P99: 1.5, Max: 3}},
		Run: api.RunSummary{Counters: api.Counters{Got: 7, GrantAmount: 1234, OpenAnswered: 2, OpenAmount: 99}},
	}
	var b bytes.Buffer
	if err := Render(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"plan 2", "rate 3000/s", "connections 2900/3000", "next: 6000/s", // plan line and the scheduled change
		"h01", "alive", "-250.125ms", "DEAD", // agents with offset and state
		"1.50ms",                                 // p99 of the last second
		"granted 7 (¥12.34)", "opened 2 (¥0.99)", // envelopes
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
