package scenario

import (
	"math"
	"sort"
	"strings"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Measures are what thresholds are evaluated on: the coordinator's merged
// run histograms and counters over every agent, the per-second counts
// collected while the scenario ran, and the ledger verdict.
type Measures struct {
	Shake, Open, Lateness api.Percentiles
	Counters              api.Counters
	ConnFailed            int64
	LateWindows           int64

	// QPSError is the worst |sent-target|/target over the seconds of the
	// run whose target equals the one before (a constant-rate second);
	// QPSErrorAt is that second and QPSSeconds how many were looked at.
	QPSError   float64
	QPSErrorAt int64
	QPSSeconds int

	// Ledger is the verify verdict ("reconciled", "discrepancies",
	// "incomplete"), empty when no verify step ran.
	Ledger string
}

// secondLog keeps every complete second seen in the coordinator's status
// while the scenario runs; status holds only the newest 120.
type secondLog map[int64]api.SecondBrief

func (l secondLog) add(st *api.Status) {
	for _, s := range st.Seconds {
		l[s.T] = s
	}
}

// measure computes the measures from the final status and the seconds in
// [from, to] (Unix seconds).
func measure(st *api.Status, log secondLog, from, to int64) Measures {
	m := Measures{
		Shake: st.Run.Shake, Open: st.Run.Open, Lateness: st.Run.Lateness,
		Counters: st.Run.Counters, ConnFailed: st.Connections.Failed, LateWindows: st.LateWindows,
	}
	ts := make([]int64, 0, len(log))
	for t := range log {
		if t >= from && t <= to {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	for i, t := range ts {
		s := log[t]
		if i == 0 || s.Target <= 0 {
			continue
		}
		prev := log[ts[i-1]]
		if ts[i-1] != t-1 || prev.Target != s.Target {
			// The first second of a rate is where a switch could
			// straddle; constant-rate seconds are the contract.
			continue
		}
		m.QPSSeconds++
		e := math.Abs(float64(s.Sent-s.Target)) / float64(s.Target)
		if e > m.QPSError || m.QPSErrorAt == 0 {
			m.QPSError, m.QPSErrorAt = e, t
		}
	}
	return m
}

// value is a numeric metric by its threshold name.
func (m *Measures) value(name string) (float64, bool) {
	pct := func(p api.Percentiles, which string) (float64, bool) {
		if p.Count == 0 {
			return 0, false
		}
		switch which {
		case "p50":
			return p.P50, true
		case "p90":
			return p.P90, true
		case "p99":
			return p.P99, true
		case "p999":
			return p.P999, true
		case "max":
			return p.Max, true
		}
		return 0, false
	}
	c := m.Counters
	switch name {
	case "qps_error":
		return m.QPSError, m.QPSSeconds > 0
	case "sent":
		return float64(c.Sent), true
	case "received":
		return float64(c.Received), true
	case "got":
		return float64(c.Got), true
	case "none":
		return float64(c.None), true
	case "overloaded":
		return float64(c.Overloaded), true
	case "missed":
		return float64(c.Missed), true
	case "skipped":
		return float64(c.Skipped), true
	case "unanswered":
		return float64(c.Unanswered), true
	case "lost":
		return float64(c.Lost), true
	case "open_sent":
		return float64(c.OpenSent), true
	case "open_answered":
		return float64(c.OpenAnswered), true
	case "conn_failed":
		return float64(m.ConnFailed), true
	case "late_windows":
		return float64(m.LateWindows), true
	}
	for _, h := range []struct {
		name string
		p    api.Percentiles
	}{{"shake.", m.Shake}, {"open.", m.Open}, {"lateness.", m.Lateness}} {
		if rest, ok := strings.CutPrefix(name, h.name); ok {
			return pct(h.p, rest)
		}
	}
	return 0, false
}
