package report

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// exactPercentiles replaces the bounds of the run's SHAKE percentiles by
// exact values when the coordinator left its merged run histogram
// (run-histograms.json) and that histogram covers every second of the
// timeline. A coordinator restarted on the same data dir starts a new
// histogram while the timeline goes on; then the bounds stay, with a
// warning.
func (r *Report) exactPercentiles() {
	rh, err := runrecord.ReadRunHistograms(r.DataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%v: run percentiles are bounds", err))
		return
	case rh.Shake == nil:
		return
	}
	var measured int64
	first := int64(0)
	for i := range r.Seconds {
		if c := r.Seconds[i].Shake.Count; c > 0 {
			measured += c
			if first == 0 {
				first = r.Seconds[i].T
			}
		}
	}
	h := telemetry.Merge(rh.Shake)
	// The histogram holds late windows too, so it may count more than
	// the seconds; fewer, or a later start, means it misses part of the run.
	if h.TotalCount() < measured || (first != 0 && rh.First > first) {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"%s covers %d SHAKE latencies from second %d, the timeline %d from %d (coordinator restarted?): run percentiles are bounds",
			runrecord.RunHistogramsFile, h.TotalCount(), rh.First, measured, first))
		return
	}
	if h.TotalCount() == 0 {
		return
	}
	p := telemetry.PercentilesOf(h)
	for _, x := range []struct {
		b *Bounds
		v float64
	}{{&r.TP50, p.P50}, {&r.TP90, p.P90}, {&r.TP99, p.P99}, {&r.TP999, p.P999}} {
		*x.b = Bounds{Lo: x.v, Hi: x.v, OK: true, Exact: true}
	}
}
