package report

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
)

// syntheticRun is a run of n seconds at 60,000/s with 17 hosts.
func syntheticRun(n int) *Report {
	secs := make([]runrecord.TimelineSecond, n)
	for i := range secs {
		s := &secs[i]
		s.T = fixtureT0 + int64(i)
		s.Target = 60000
		s.Sent, s.Received = 60000-int64(i%7), 60000-int64(i%11)
		s.Got = 200
		s.Shake = api.Percentiles{Count: s.Received, P50: 1 + float64(i%5)/10, P90: 3, P99: 8 + float64(i%13), P999: 20, Max: 40}
		s.Connections = api.Connections{Target: 1000000, Established: min(1000000, 20000*(i+1))}
	}
	r := &Report{DataDir: "bench", Seconds: secs}
	for h := range 17 {
		hp := HostPackets{Host: fmt.Sprintf("h%02d", h+1)}
		for i := range n {
			hp.Points = append(hp.Points, PacketRate{T: float64(fixtureT0+i) + 0.5, RxPerS: 7000, TxPerS: 7100})
		}
		r.NIC = append(r.NIC, hp)
	}
	r.Phases = phases(secs, nil)
	r.Totals = totals(secs)
	r.TP99 = runQuantile(secs, 0.99)
	return r
}

func BenchmarkWriteHTML(b *testing.B) {
	for _, n := range []int{60, 600, 3600} {
		b.Run(fmt.Sprintf("seconds=%d/hosts=17", n), func(b *testing.B) {
			r := syntheticRun(n)
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := r.WriteHTML(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "html_bytes")
		})
	}
}

func BenchmarkRunQuantile(b *testing.B) {
	for _, n := range []int{600, 3600, 86400} {
		b.Run(fmt.Sprintf("seconds=%d", n), func(b *testing.B) {
			secs := syntheticRun(n).Seconds
			b.ReportAllocs()
			for b.Loop() {
				runQuantile(secs, 0.99)
			}
			b.ReportMetric(float64(n), "seconds")
		})
	}
}
