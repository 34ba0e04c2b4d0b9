package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

func TestEvaluate(t *testing.T) {
	m := &Measures{
		Shake:    api.Percentiles{Count: 100, P50: 0.2, P90: 0.9, P99: 1.93, P999: 4, Max: 7},
		Lateness: api.Percentiles{Count: 100, P99: 0.4},
		Counters: api.Counters{Sent: 1000, Unanswered: 2},
		QPSError: 0.004, QPSErrorAt: 1769601600, QPSSeconds: 30,
		Ledger: "reconciled",
	}
	tests := []struct {
		expr     string
		pass     bool
		measured string // substring
	}{
		{"shake.p99 < 50ms", true, "1.930ms"},
		// the brief's must-fail threshold
		{"shake.p99 < 0ms", false, "1.930ms"},
		{"shake.p90 <= 900us", true, "900us"},
		{"shake.max > 1s", false, "7.000ms"},
		{"lateness.p99 < 5ms", true, "400us"},
		// no OPEN in the run: not measured, so not passed
		{"open.p99 < 1s", false, "no such event"},
		{"qps_error < 1%", true, "0.400%"},
		{"qps_error < 0.1%", false, "of 30 seconds"},
		{"unanswered == 0", false, "2"},
		{"unanswered != 0", true, "2"},
		{"sent >= 1000", true, "1000"},
		{"ledger == reconciled", true, "reconciled"},
		{"ledger != reconciled", false, "reconciled"},
	}
	for _, tt := range tests {
		th, err := ParseThreshold(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		o := th.Evaluate(m)
		if o.Passed != tt.pass || !strings.Contains(o.Measured, tt.measured) {
			t.Errorf("%s: passed %v measured %q; want %v and %q", tt.expr, o.Passed, o.Measured, tt.pass, tt.measured)
		}
	}
	// Without a verify step the ledger threshold fails and says why.
	th, _ := ParseThreshold("ledger == reconciled")
	if o := th.Evaluate(&Measures{}); o.Passed || !strings.Contains(o.Measured, "no verify step") {
		t.Errorf("unverified ledger: %+v", o)
	}
	// No constant-rate second: qps_error is not measured.
	th, _ = ParseThreshold("qps_error < 1%")
	if o := th.Evaluate(&Measures{}); o.Passed || !strings.Contains(o.Measured, "no second") {
		t.Errorf("qps_error without seconds: %+v", o)
	}
}

func TestMeasureQPSError(t *testing.T) {
	log := secondLog{}
	// 100..104 at 1000 (100 is a switch second, skipped), 105..107 at
	// 2000 (105 skipped), a gap at 108, 109 at 2000 after the gap
	// (skipped: its predecessor is unknown), 110 at 0.
	for t, s := range map[int64][2]int64{
		99: {0, 0}, 100: {1000, 990}, 101: {1000, 1000}, 102: {1000, 1003}, 103: {1000, 1000}, 104: {1000, 1000},
		105: {2000, 1500}, 106: {2000, 2000}, 107: {2000, 1990}, 109: {2000, 1000}, 110: {0, 0},
	} {
		log[t] = api.SecondBrief{T: t, Target: s[0], Sent: s[1]}
	}
	m := measure(&api.Status{}, log, 99, 110)
	if m.QPSSeconds != 6 || m.QPSErrorAt != 107 || m.QPSError != 0.005 {
		t.Fatalf("qps error %v at %d over %d seconds; want 0.005 at 107 over 6", m.QPSError, m.QPSErrorAt, m.QPSSeconds)
	}
	// Seconds outside the scenario's window do not count.
	if m := measure(&api.Status{}, log, 101, 104); m.QPSSeconds != 3 || m.QPSErrorAt != 102 {
		t.Fatalf("window: %+v", m)
	}
}

func TestProgressLine(t *testing.T) {
	st := api.Status{Connections: api.Connections{Target: 100, Established: 99}}
	st.Last = &api.SecondSummary{Target: 50, Counters: api.Counters{Sent: 50, Received: 49}, Shake: api.Percentiles{Count: 50, P99: 1.5}}
	st.Run.Got, st.Run.Unanswered = 7, 1
	got := progressLine(12*time.Second, "3/9 qps 50", st)
	want := "   12s  [3/9 qps 50]  conns 99/100  qps 50/50 recv 49  p99 1.500ms  got 7  opened 0  unanswered 1"
	if got != want {
		t.Errorf("progress line\n got %q\nwant %q", got, want)
	}
	// A second without SHAKEs has no latency to show.
	st.Last.Shake = api.Percentiles{}
	if got := progressLine(0, "x", st); !strings.Contains(got, "p99 -") {
		t.Errorf("idle second: %q", got)
	}
}
