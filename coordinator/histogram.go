package coordinator

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

func newHist() *hdrhistogram.Histogram { return telemetry.NewHistogram() }

// mergeSnap merges an agent's exported snapshot into h; percentiles are
// only ever computed from merged counts, never averaged. A snapshot that
// does not validate is dropped (reported by the caller's counters).
func mergeSnap(h *hdrhistogram.Histogram, s *hdrhistogram.Snapshot) bool {
	if s == nil || len(s.Counts) == 0 {
		return true
	}
	if s.Validate() != nil {
		return false
	}
	h.Merge(hdrhistogram.Import(s))
	return true
}

func percentiles(h *hdrhistogram.Histogram) api.Percentiles {
	p := telemetry.PercentilesOf(h)
	return api.Percentiles{Count: p.Count, P50: p.P50, P90: p.P90, P99: p.P99, P999: p.P999, Max: p.Max}
}
