package telemetry

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestMergeEqualsOneHistogram(t *testing.T) {
	// 17 agents record different latency mixes; the merge of their exported
	// (JSON round-tripped) snapshots must equal one histogram fed everything.
	rng := rand.New(rand.NewPCG(1, 2))
	all := NewHistogram()
	var snaps []*hdrhistogram.Snapshot
	for agent := range 17 {
		h := NewHistogram()
		for range 2000 {
			d := time.Duration(rng.ExpFloat64()*float64(time.Millisecond)*float64(agent+1)) + time.Microsecond
			RecordDuration(h, d)
			RecordDuration(all, d)
		}
		b, err := json.Marshal(Export(h))
		if err != nil {
			t.Fatal(err)
		}
		var s hdrhistogram.Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Counts) >= len(h.Export().Counts) {
			t.Fatalf("Export did not trim: %d counts", len(s.Counts))
		}
		snaps = append(snaps, &s)
	}
	snaps = append(snaps, nil, &hdrhistogram.Snapshot{SignificantFigures: 9}) // skipped
	m := Merge(snaps...)
	if !m.Equals(all) {
		t.Fatalf("merge differs: count %d vs %d, p99 %d vs %d",
			m.TotalCount(), all.TotalCount(), m.ValueAtQuantile(99), all.ValueAtQuantile(99))
	}
	if got, want := PercentilesOf(m), PercentilesOf(all); got != want {
		t.Fatalf("percentiles %+v, want %+v", got, want)
	}
}

func TestMergeOtherGeometry(t *testing.T) {
	// A snapshot of another geometry is re-recorded, not dropped.
	other := hdrhistogram.New(1, 3_600_000_000, 2)
	other.RecordValue(5000)
	h := NewHistogram()
	RecordDuration(h, 5*time.Millisecond)
	m := Merge(other.Export(), h.Export())
	if m.TotalCount() != 2 || m.Max() < 4990 || m.Max() > 5010 {
		t.Fatalf("count %d max %d", m.TotalCount(), m.Max())
	}
}

func TestPercentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		RecordDuration(h, time.Duration(i)*time.Millisecond) // 1..1000 ms
	}
	RecordDuration(h, 0)             // clamped to 1 µs
	RecordDuration(h, time.Minute*5) // clamped to 60 s
	p := PercentilesOf(h)
	near := func(got, want float64) bool { return got >= want*0.995 && got <= want*1.005 } // 3 digits, and ranks of 1002 values
	if p.Count != 1002 || !near(p.P50, 500) || !near(p.P90, 900) || !near(p.P99, 990) || !near(p.P999, 1000) || !near(p.Max, 60000) {
		t.Fatalf("%+v", p)
	}
	if (PercentilesOf(NewHistogram()) != Percentiles{}) || (PercentilesOf(nil) != Percentiles{}) {
		t.Fatal("empty histogram should give zero percentiles")
	}
	lp := LatencyPoint("all", "shake", p, ts)
	if c, _ := lp.Field("count"); c.Kind() != KindInt || c.Int() != 1002 {
		t.Fatalf("count field %v", c)
	}
	if v, _ := lp.Field("p99"); v.Kind() != KindFloat {
		t.Fatal("p99 must be a float, always, or InfluxDB sees a type conflict")
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Unix(100, 0)
	w := NewWindow(t0)
	w.Add("sent", 3)
	w.Add("sent", 2)
	w.Observe("shake", 2*time.Millisecond)
	w.Observe("shake", 4*time.Millisecond)
	s1 := w.Cut(t0.Add(time.Second))
	if !s1.Start.Equal(t0) || !s1.End.Equal(t0.Add(time.Second)) || s1.Counters["sent"] != 5 || s1.Latency["shake"] == nil {
		t.Fatalf("%+v", s1)
	}
	w.Observe("open", time.Millisecond)
	s2 := w.Cut(t0.Add(2 * time.Second))
	// A quiet counter reads 0, an empty histogram is left out.
	if v, ok := s2.Counters["sent"]; !ok || v != 0 || s2.Latency["shake"] != nil || s2.Latency["open"] == nil {
		t.Fatalf("%+v", s2)
	}
	// Windows survive JSON (agents ship them to the coordinator).
	b, err := json.Marshal(s1)
	if err != nil {
		t.Fatal(err)
	}
	var back WindowSnapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	counters, lat := MergeWindows(back, s2, s1)
	if counters["sent"] != 10 || lat["shake"].TotalCount() != 4 || lat["open"].TotalCount() != 1 {
		t.Fatalf("merged %v %v", counters, lat)
	}
}
