package coordinator

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

func newHist() *hdrhistogram.Histogram { return telemetry.NewHistogram() }

// mergeHist merges an agent's histogram into h; percentiles are only ever
// computed from merged counts, never averaged. A histogram that does not
// validate is dropped (reported by the caller's counters).
func mergeHist(h *hdrhistogram.Histogram, w *api.Hist) bool {
	if w.Empty() {
		return true
	}
	s, err := w.Snapshot()
	if err != nil {
		return false
	}
	h.Merge(hdrhistogram.Import(s))
	return true
}

func percentiles(h *hdrhistogram.Histogram) api.Percentiles {
	p := telemetry.PercentilesOf(h)
	return api.Percentiles{Count: p.Count, P50: p.P50, P90: p.P90, P99: p.P99, P999: p.P999, Max: p.Max}
}
