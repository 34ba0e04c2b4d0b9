package api

import (
	"encoding/json"
	"fmt"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func testHistogram(vals ...int64) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for _, v := range vals {
		h.RecordValue(v)
	}
	return h
}

func TestHistRoundTrip(t *testing.T) {
	h := testHistogram(1, 250, 250, 3_000, 1_500_000, 59_000_000)
	b, err := json.Marshal(HistOf(h.Export()))
	if err != nil {
		t.Fatal(err)
	}
	var got Hist
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Sparse) != 2*5 || len(got.Counts) != 0 {
		t.Fatalf("wire form %s: want 5 sparse pairs and no dense counts", b)
	}
	s, err := got.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := hdrhistogram.Import(s)
	if !back.Equals(h) {
		t.Fatalf("round trip changed the histogram: %v vs %v", back.Export().Counts, h.Export().Counts)
	}
}

// An agent of an earlier release sends hdrhistogram.Snapshot's dense counts.
func TestHistReadsDenseSnapshot(t *testing.T) {
	h := testHistogram(7, 7, 9_000)
	b, err := json.Marshal(h.Export())
	if err != nil {
		t.Fatal(err)
	}
	var got Hist
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	s, err := got.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !hdrhistogram.Import(s).Equals(h) {
		t.Fatal("dense snapshot not read back as sent")
	}
}

func TestHistRejectsBadSparse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sparse []int64
		dense  []int64
	}{
		{"odd length", []int64{3}, nil},
		{"index falls", []int64{5, 1, 4, 1}, nil},
		{"index repeats", []int64{5, 1, 5, 1}, nil},
		{"negative index", []int64{-1, 1}, nil},
		{"index past any geometry", []int64{maxHistCounts, 1}, nil},
		{"index past this geometry", []int64{500_000, 1}, nil},
		{"negative count", []int64{2, -3}, nil},
		{"counts overflow", []int64{1, 1 << 62, 2, 1 << 62, 3, 1 << 62}, nil},
		{"dense and sparse", []int64{1, 1}, []int64{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Hist{LowestTrackableValue: 1, HighestTrackableValue: 60_000_000, SignificantFigures: 3, Sparse: tc.sparse, Counts: tc.dense}
			if s, err := h.Snapshot(); err == nil {
				t.Fatalf("accepted: %v", s.Counts[:min(len(s.Counts), 10)])
			}
		})
	}
}

func TestHistEmpty(t *testing.T) {
	var nilHist *Hist
	empty := HistOf(testHistogram().Export())
	if !nilHist.Empty() || !empty.Empty() || HistOf(testHistogram(5).Export()).Empty() {
		t.Fatal("Empty: want true for nil and no counts, false with a count")
	}
}

func FuzzHist(f *testing.F) {
	b, _ := json.Marshal(HistOf(testHistogram(1, 2, 3_000).Export()))
	f.Add(b)
	d, _ := json.Marshal(testHistogram(9).Export())
	f.Add(d)
	f.Add([]byte(`{"LowestTrackableValue":1,"HighestTrackableValue":2,"SignificantFigures":9,"Sparse":[0,1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hist
		if json.Unmarshal(b, &h) != nil {
			return
		}
		s, err := h.Snapshot()
		if err != nil {
			return
		}
		if s.Validate() != nil {
			t.Fatal("Snapshot returned a snapshot that does not validate")
		}
		hdrhistogram.Import(s)
	})
}

// BenchmarkHeartbeatHists is what decoding one window's three histograms
// costs the coordinator, sent dense (as hdrhistogram.Snapshot) or sparse,
// for a second of fast answers and one of an overloaded box.
func BenchmarkHeartbeatHists(b *testing.B) {
	for _, tc := range []struct {
		name string
		lo   int64 // µs
		hi   int64
	}{{"p99=2ms", 200, 2_000}, {"p99=4s", 200_000, 4_000_000}} {
		h := hdrhistogram.New(1, 60_000_000, 3)
		for i := range int64(600) {
			h.RecordValue(tc.lo + (tc.hi-tc.lo)*i/600)
		}
		trimmed := h.Export()
		n := len(trimmed.Counts)
		for n > 0 && trimmed.Counts[n-1] == 0 {
			n--
		}
		trimmed.Counts = trimmed.Counts[:n]
		for _, form := range []struct {
			name string
			v    any
		}{{"dense", trimmed}, {"sparse", HistOf(h.Export())}} {
			one, _ := json.Marshal(form.v)
			body := []byte(fmt.Sprintf(`{"shake_latency":%s,"open_latency":%s,"lateness":%s}`, one, one, one))
			b.Run(tc.name+"/"+form.name, func(b *testing.B) {
				b.ReportMetric(float64(len(body)), "bytes")
				for b.Loop() {
					var w Window
					if err := json.Unmarshal(body, &w); err != nil {
						b.Fatal(err)
					}
					for _, x := range []*Hist{w.ShakeLatency, w.OpenLatency, w.Lateness} {
						if _, err := x.Snapshot(); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
