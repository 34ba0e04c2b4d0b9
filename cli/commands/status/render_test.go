package status

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

func TestRender(t *testing.T) {
	serverRecv := int64(2998)
	st := api.Status{
		Now:  1_800_000_010_000,
		Plan: api.PlanStatus{ID: 2, Users: 3000, Rate: 3000, Active: true, Segments: []api.RateSegment{{T: 1_800_000_000, Q: 3000}, {T: 1_800_000_020, Q: 6000}}},
		Agents: []api.AgentInfo{
			{Name: "h01", Alive: true, Users: 1500, Conns: 1500, OffsetMs: -250.125, DelayMs: 0.04, LastSeenMs: 1_800_000_009_500},
			{Name: "h02", Alive: false, Users: 1500, Conns: 1400, LastSeenMs: 1_800_000_005_000},
		},
		Connections: api.Connections{Target: 3000, Established: 2900},
		Last: &api.SecondSummary{T: 1_800_000_008, Target: 3000, Counters: api.Counters{Sent: 3000, Received: 2999, Got: 7, None: 2992},
			ServerReceived: &serverRecv, Shake: api.Percentiles{Count: 2999, P50: 0.1, P90: 0.2, P99: 1.5, Max: 3}},
		Run:               api.RunSummary{Counters: api.Counters{Got: 7, GrantAmount: 1234, OpenAnswered: 2, OpenAmount: 99}},
		ServerStatsErrors: 3,
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
		"server stats polls failed: 3", // failed polls of the servers' admin APIs
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The servers' count sits next to sent and received in the second's
	// row; the run row has none.
	inWindow := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "run" && inWindow:
			// run has no target: run, sent, received, server, ...
			if len(f) < 4 || f[3] != "-" {
				t.Errorf("run row %q has a server count", line)
			}
			inWindow = false
		case len(f) > 0 && f[0] == "WINDOW":
			if len(f) < 5 || f[2] != "SENT" || f[3] != "RECEIVED" || f[4] != "SERVER" {
				t.Errorf("header %q", line)
			}
			inWindow = true
		case len(f) > 0 && f[0] == "second":
			if len(f) < 6 || f[3] != "3000" || f[4] != "2999" || f[5] != "2998" {
				t.Errorf("second row %q, want sent 3000 received 2999 server 2998", line)
			}
		}
	}
}
