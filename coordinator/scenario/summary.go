package scenario

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// progressLine is the one-line view of a running scenario.
func progressLine(elapsed time.Duration, step string, st api.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs  [%s]  conns %d/%d", elapsed.Seconds(), step, st.Connections.Established, st.Connections.Target)
	if s := st.Last; s != nil {
		p99 := "-"
		if s.Shake.Count > 0 {
			p99 = fmtMillis(s.Shake.P99)
		}
		fmt.Fprintf(&b, "  qps %d/%d recv %d  p99 %s", s.Sent, s.Target, s.Received, p99)
	}
	c := st.Run.Counters
	fmt.Fprintf(&b, "  got %d  opened %d  unanswered %d", c.Got, c.OpenAnswered, c.Unanswered)
	return b.String()
}

// WriteSummary prints the run's figures and every threshold with its
// measured value, then the verdict.
func (r *Result) WriteSummary(w io.Writer) {
	m := &r.Measures
	c := m.Counters
	name := r.Scenario.Name
	if name == "" {
		name = "scenario"
	}
	fmt.Fprintf(w, "\n%s: %d users, %s\n", name, r.Scenario.Users, r.Ended.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(w, "  SHAKE   sent %d  received %d  got %d  none %d  overloaded %d  unanswered %d  lost %d  missed %d\n",
		c.Sent, c.Received, c.Got, c.None, c.Overloaded, c.Unanswered, c.Lost, c.Missed)
	fmt.Fprintf(w, "  OPEN    sent %d  answered %d   cents granted %d  opened %d\n", c.OpenSent, c.OpenAnswered, c.GrantAmount, c.OpenAmount)
	for _, h := range []struct {
		name string
		p    api.Percentiles
	}{{"shake", m.Shake}, {"open", m.Open}, {"lateness", m.Lateness}} {
		if h.p.Count == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-8s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d, merged over all agents)\n", h.name,
			fmtMillis(h.p.P50), fmtMillis(h.p.P90), fmtMillis(h.p.P99), fmtMillis(h.p.P999), fmtMillis(h.p.Max), h.p.Count)
	}
	if m.QPSSeconds > 0 {
		fmt.Fprintf(w, "  rate    worst |sent-target|/target %.3f%% over %d constant-rate seconds\n", m.QPSError*100, m.QPSSeconds)
	}
	if r.Verify != nil {
		fmt.Fprintf(w, "  ledger  %s (%d discrepancies)\n", r.Verify.Verdict, r.Verify.Discrepancies)
	}
	if len(r.Outcomes) > 0 {
		fmt.Fprintln(w, "thresholds:")
	}
	width := 0
	for _, o := range r.Outcomes {
		width = max(width, len(o.Expr))
	}
	for _, o := range r.Outcomes {
		mark := "PASS"
		if !o.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %-*s  measured %s\n", mark, width, o.Expr, o.Measured)
	}
	if r.Passed() {
		fmt.Fprintln(w, "verdict: PASSED")
	} else {
		fmt.Fprintf(w, "verdict: FAILED: %s\n", strings.Join(r.Failures(), "; "))
	}
}
