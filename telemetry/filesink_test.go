package telemetry

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/testwait"
)

// eventually polls cond until it holds (internal/testwait).
var eventually = testwait.For

func TestFileSinkRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFileSink(dir, WithFlushInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ps := []Point{
		{MeasRequests, Tags("cmd", "shake", "host", "h01", "role", "agent"), []Field{Int("sent", 30000), Int("received", 29990)}, ts},
		LatencyPoint("all", "shake", Percentiles{P50: 1.5, P90: 2, P99: 3.25, P999: 9, Max: 12, Count: 30000}, ts),
		{MeasNet, Tags("host", "h01", "interface", "lo"), []Field{Uint("bytes_sent", 123456789)}, ts},
	}
	s.Write(ps...)
	s.Write(Point{Measurement: "bad"}) // no fields: dropped, counted
	path := filepath.Join(dir, MetricsFile)
	// The flusher writes it out without Close.
	eventually(t, 5*time.Second, "the periodic flush", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte("\n")) == len(ps)
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Write(ps[0]) // after Close: dropped
	st := s.Stats()
	if st.Written != 3 || st.Dropped != 2 || st.Errors != 1 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}

	// A second run appends to the same file.
	s2, err := NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2.Write(ps[0])
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadLineProtocol(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(ps, ps[0]); !pointsEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestTee(t *testing.T) {
	var a, b []Point
	tee := Tee{SinkFunc(func(ps ...Point) { a = append(a, ps...) }), SinkFunc(func(ps ...Point) { b = append(b, ps...) })}
	tee.Write(Point{Measurement: "m", Fields: []Field{Int("v", 1)}})
	if len(a) != 1 || len(b) != 1 || tee.Close() != nil || tee.Stats() != (SinkStats{}) {
		t.Fatalf("a %v b %v", a, b)
	}
}
