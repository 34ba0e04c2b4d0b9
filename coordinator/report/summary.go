package report

import (
	"math"
	"sort"

	"github.com/hbctl/hbctl/coordinator/runrecord"
)

// Phase is a stretch of contiguous seconds with one non-zero target rate.
type Phase struct {
	Target  int64 // fires per second the plan holds
	From    int64 // first second (Unix)
	To      int64 // last second (Unix), inclusive
	Seconds int64
	// MeanSent and MeanReceived are per second over the phase.
	MeanSent, MeanReceived float64
	// MeanAbsErr is the mean over the phase's seconds of |sent-target|/target.
	MeanAbsErr float64
	// WorstErr is the per-second error (sent-target)/target of largest
	// magnitude, with its sign, and WorstAt its second.
	WorstErr float64
	WorstAt  int64
	// WorstP99 is the highest per-second SHAKE p99 in the phase (ms).
	WorstP99 float64
	// ServerSeconds counts the phase's seconds with a server count;
	// MeanServer is SHAKEs the servers received per second over those, and
	// WorstServerErr the largest |server-target|/target among them, at
	// WorstServerAt. All zero when no server count is known.
	ServerSeconds  int64
	MeanServer     float64
	WorstServerErr float64
	WorstServerAt  int64
}

// phases splits the seconds into runs of equal non-zero target. A gap in
// the seconds (a coordinator restart) ends a phase too. server holds the
// servers' SHAKE arrivals by Unix second; nil for none.
func phases(secs []runrecord.TimelineSecond, server map[int64]int64) []Phase {
	var out []Phase
	var cur *Phase
	var sumAbs float64
	var sumSent, sumRecv, sumServer int64
	end := func() {
		if cur == nil {
			return
		}
		n := float64(cur.Seconds)
		cur.MeanSent = float64(sumSent) / n
		cur.MeanReceived = float64(sumRecv) / n
		cur.MeanAbsErr = sumAbs / n
		if cur.ServerSeconds > 0 {
			cur.MeanServer = float64(sumServer) / float64(cur.ServerSeconds)
		}
		out = append(out, *cur)
		cur = nil
	}
	for i := range secs {
		s := &secs[i]
		if cur != nil && (s.Target != cur.Target || s.T != cur.To+1) {
			end()
		}
		if s.Target <= 0 {
			continue
		}
		if cur == nil {
			cur = &Phase{Target: s.Target, From: s.T, WorstAt: s.T}
			sumAbs, sumSent, sumRecv, sumServer = 0, 0, 0, 0
		}
		cur.To = s.T
		cur.Seconds++
		e := float64(s.Sent-s.Target) / float64(s.Target)
		sumAbs += math.Abs(e)
		sumSent += s.Sent
		sumRecv += s.Received
		if math.Abs(e) > math.Abs(cur.WorstErr) {
			cur.WorstErr, cur.WorstAt = e, s.T
		}
		if s.Shake.Count > 0 {
			cur.WorstP99 = max(cur.WorstP99, s.Shake.P99)
		}
		if v, ok := server[s.T]; ok {
			cur.ServerSeconds++
			sumServer += v
			if e := math.Abs(float64(v-s.Target)) / float64(s.Target); e > cur.WorstServerErr || cur.ServerSeconds == 1 {
				cur.WorstServerErr, cur.WorstServerAt = e, s.T
			}
		}
	}
	end()
	return out
}

// Bounds is a run-wide latency percentile known only within a range: the
// timeline keeps each second's percentiles, not the run's histogram, and
// percentiles cannot be averaged. Lo and Hi are exact bounds implied by
// the per-second quantiles and counts.
type Bounds struct {
	Lo, Hi float64 // ms
	OK     bool    // false when no second recorded a latency
	// Exact: read off the coordinator's merged run histogram
	// (run-histograms.json); Lo == Hi.
	Exact bool
}

// quantileStep is one step of the per-second quantile ladder.
var quantileSteps = []float64{0.5, 0.9, 0.99, 0.999, 1}

// runQuantile bounds the q-quantile (one of 0.5, 0.9, 0.99, 0.999) of all
// the run's SHAKE latencies. Second i holds n_i samples of which at least
// a fraction 0.5 are <= p50_i, 0.9 <= p90_i, and so on up to all <= max_i,
// and at most 0.5 are < p50_i, 0.9 < p90_i, .... Putting each fraction at
// the top of its step gives the lowest CDF the data allows, hence the
// highest quantile (Hi); putting it at the bottom gives Lo.
func runQuantile(secs []runrecord.TimelineSecond, q float64) Bounds {
	type step struct {
		x, mass float64
	}
	var hi, lo []step
	var total float64
	for i := range secs {
		p := &secs[i].Shake
		if p.Count <= 0 {
			continue
		}
		w := float64(p.Count)
		total += w
		xs := []float64{p.P50, p.P90, p.P99, p.P999, p.Max}
		prev := 0.0
		for j, x := range xs {
			m := (quantileSteps[j] - prev) * w
			hi = append(hi, step{x, m})
			lower := 0.0
			if j > 0 {
				lower = xs[j-1]
			}
			lo = append(lo, step{lower, m})
			prev = quantileSteps[j]
		}
	}
	if total == 0 {
		return Bounds{}
	}
	at := func(steps []step) float64 {
		sort.Slice(steps, func(i, j int) bool { return steps[i].x < steps[j].x })
		need := q * total * (1 - 1e-12)
		var cum float64
		for _, s := range steps {
			cum += s.mass
			if cum >= need {
				return s.x
			}
		}
		return steps[len(steps)-1].x
	}
	return Bounds{Lo: at(lo), Hi: at(hi), OK: true}
}

// Totals are the counters summed over the timeline's seconds.
type Totals struct {
	Sent, Received, Got, None, Overloaded, Missed, Skipped, Unanswered, Lost int64
	OpenSent, OpenAnswered, GrantAmount, OpenAmount                          int64
}

func totals(secs []runrecord.TimelineSecond) Totals {
	var t Totals
	for i := range secs {
		c := &secs[i].Counters
		t.Sent += c.Sent
		t.Received += c.Received
		t.Got += c.Got
		t.None += c.None
		t.Overloaded += c.Overloaded
		t.Missed += c.Missed
		t.Skipped += c.Skipped
		t.Unanswered += c.Unanswered
		t.Lost += c.Lost
		t.OpenSent += c.OpenSent
		t.OpenAnswered += c.OpenAnswered
		t.GrantAmount += c.GrantAmount
		t.OpenAmount += c.OpenAmount
	}
	return t
}
