package telemetry

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The fixed geometry of every latency histogram in hbctl, so snapshots from
// any agent merge exactly: values in microseconds from 1 µs to 60 s, with 3
// significant digits (0.1% resolution).
const (
	HistLowest  int64 = 1
	HistHighest int64 = 60_000_000
	HistSigFigs       = 3
)

// NewHistogram returns an empty histogram with the project's geometry.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistLowest, HistHighest, HistSigFigs)
}

// RecordDuration records d in microseconds, clamped into the histogram's
// range so that an outlier is counted at the edge instead of being lost.
func RecordDuration(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < HistLowest {
		us = HistLowest
	}
	if hi := h.HighestTrackableValue(); us > hi {
		us = hi
	}
	_ = h.RecordValue(us) // in range by construction
}

// Export snapshots h for shipping: the counts past the highest recorded
// value are cut off, which shrinks the JSON many times over
// (hdrhistogram.Import zero-fills a short snapshot).
func Export(h *hdrhistogram.Histogram) *hdrhistogram.Snapshot {
	s := h.Export()
	n := len(s.Counts)
	for n > 0 && s.Counts[n-1] == 0 {
		n--
	}
	s.Counts = s.Counts[:n:n]
	return s
}

// Merge adds snapshots (from any number of agents and windows) into one new
// histogram with the project's geometry. Nil snapshots and snapshots that
// fail Validate are skipped: validate at the decoding boundary to report them.
// Percentiles are then read off the merged histogram; they are never averaged.
func Merge(snaps ...*hdrhistogram.Snapshot) *hdrhistogram.Histogram {
	// Snapshots of the project's geometry (all of them, normally) are summed
	// index by index and imported once; others are imported and re-recorded.
	var sum []int64
	var others []*hdrhistogram.Histogram
	for _, s := range snaps {
		if s == nil || s.Validate() != nil {
			continue
		}
		if s.LowestTrackableValue != HistLowest || s.HighestTrackableValue != HistHighest ||
			s.SignificantFigures != HistSigFigs || s.IntegerToDoubleConversionRatio > 1 {
			others = append(others, hdrhistogram.Import(s))
			continue
		}
		if len(s.Counts) > len(sum) {
			sum = append(sum, make([]int64, len(s.Counts)-len(sum))...)
		}
		for i, c := range s.Counts {
			if sum[i] > math.MaxInt64-c {
				sum[i] = math.MaxInt64
				continue
			}
			sum[i] += c
		}
	}
	h := hdrhistogram.Import(&hdrhistogram.Snapshot{
		LowestTrackableValue:  HistLowest,
		HighestTrackableValue: HistHighest,
		SignificantFigures:    HistSigFigs,
		Counts:                sum,
	})
	for _, o := range others {
		h.Merge(o)
	}
	return h
}

// Percentiles are the latency figures reported per command, per agent and
// over all agents, in milliseconds.
type Percentiles struct {
	P50, P90, P99, P999, Max float64 // ms
	Count                    int64
}

// PercentilesOf reads the percentiles of a histogram of microseconds.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	v := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return Percentiles{
		P50:   usToMs(v[0]),
		P90:   usToMs(v[1]),
		P99:   usToMs(v[2]),
		P999:  usToMs(v[3]),
		Max:   usToMs(h.Max()),
		Count: h.TotalCount(),
	}
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

// Fields are the hb_latency fields: p50, p90, p99, p999, max (ms, float)
// and count (integer).
func (p Percentiles) Fields() []Field {
	return []Field{
		Float("p50", p.P50),
		Float("p90", p.P90),
		Float("p99", p.P99),
		Float("p999", p.P999),
		Float("max", p.Max),
		Int("count", p.Count),
	}
}

// LatencyPoint is the hb_latency point of one command on one host ("all"
// for the merge over every agent).
func LatencyPoint(host, cmd string, p Percentiles, t time.Time) Point {
	return Point{
		Measurement: MeasLatency,
		Tags:        []Tag{{"cmd", cmd}, {"host", host}},
		Fields:      p.Fields(),
		Time:        t,
	}
}
