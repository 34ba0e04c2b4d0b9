package telemetry

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkInfluxSinkWrite measures Write into the bounded queue, against a
// server that answers at once ("ok") and one that never answers ("hung",
// so every point past the queue is dropped).
func BenchmarkInfluxSinkWrite(b *testing.B) {
	for _, mode := range []string{"ok", "hung"} {
		b.Run("server="+mode, func(b *testing.B) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if mode == "hung" {
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			defer close(release)
			s, err := NewInfluxSink(InfluxConfig{URL: srv.URL, Logger: quiet, CloseTimeout: 10 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			p := Point{MeasRequests, Tags("cmd", "shake", "host", "h01", "role", "agent"),
				[]Field{Int("sent", 30000), Int("received", 29998)}, time.Unix(1700000000, 0)}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				s.Write(p)
			}
			st := s.Stats()
			// Write outruns the client by far; what matters is that it never
			// waits, and how many points a second the feeder hands on.
			b.ReportMetric(100*float64(st.Dropped)/float64(b.N), "%dropped")
			b.ReportMetric(float64(st.Written)/time.Since(start).Seconds(), "fed/s")
			s.Close()
		})
	}
}

func BenchmarkAppendLineProtocol(b *testing.B) {
	points := map[string]Point{
		"requests": {MeasRequests, Tags("cmd", "shake", "host", "h01", "role", "agent"),
			[]Field{Int("sent", 30000), Int("received", 29998)}, time.Unix(1700000000, 0)},
		"latency": LatencyPoint("all", "shake", Percentiles{0.512, 1.023, 7.935, 30.463, 41.023, 60000}, time.Unix(1700000000, 0)),
		"net": {MeasNet, Tags("host", "h01", "interface", "eth0"), []Field{
			Int("bytes_sent", 1<<40), Int("bytes_recv", 1<<39), Int("packets_sent", 1<<30), Int("packets_recv", 1<<29),
			Int("err_in", 0), Int("err_out", 0), Int("drop_in", 3), Int("drop_out", 0)}, time.Unix(1700000000, 0)},
	}
	for _, name := range []string{"requests", "latency", "net"} {
		p := points[name]
		b.Run("point="+name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendLineProtocol(buf[:0], &p)
			}
			b.ReportMetric(float64(len(buf)), "bytes/line")
		})
	}
}

// BenchmarkMerge merges one second of snapshots from N agents, as the
// coordinator does each second (60,000 QPS spread over the agents).
func BenchmarkMerge(b *testing.B) {
	for _, agents := range []int{1, 17, 64} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(agents)))
			snaps := make([]*hdrhistogram.Snapshot, agents)
			for i := range snaps {
				h := NewHistogram()
				for range 60000 / agents {
					RecordDuration(h, time.Duration(200+rng.ExpFloat64()*2000)*time.Microsecond)
				}
				snaps[i] = Export(h)
			}
			b.ReportAllocs()
			var p Percentiles
			for b.Loop() {
				p = PercentilesOf(Merge(snaps...))
			}
			if p.Count == 0 {
				b.Fatal("empty merge")
			}
			b.ReportMetric(float64(agents), "agents")
		})
	}
}
