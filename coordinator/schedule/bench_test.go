package schedule

import (
	"fmt"
	"testing"
)

// BenchmarkCursorSecond: one op walks one second of fires of every agent
// listed (each agent its own cursor, as on its own host).
func BenchmarkCursorSecond(b *testing.B) {
	for _, bc := range []struct {
		agents int
		owned  int64
		u      int64
		q      int64
	}{
		// One agent of the reference run at a million requests a second.
		{1, 60_000, 1_000_000, 1_000_000},
		// The reference run: 17 agents of 60,000 at 60,000 a second.
		{17, 60_000, 17 * 60_000, 60_000},
	} {
		name := fmt.Sprintf("agents=%d/owned=%d/U=%d/Q=%d", bc.agents, bc.owned, bc.u, bc.q)
		b.Run(name, func(b *testing.B) {
			p := mustPlan(b, []Range{{0, uint32(bc.u)}}, bc.q)
			start := p.Segments[0].T
			cursors := make([]*Cursor, bc.agents)
			for k := range cursors {
				lo := uint32(int64(k) * bc.owned)
				cursors[k] = p.Cursor([]Range{{lo, lo + uint32(bc.owned)}}, start)
			}
			var fires int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				until := start + int64(i+1)*sec
				for _, c := range cursors {
					for {
						f, ok := c.Peek()
						if !ok || f.At >= until {
							break
						}
						c.Next()
						fires++
					}
				}
			}
			elapsed := b.Elapsed()
			b.ReportMetric(float64(fires)/float64(b.N), "fires/op")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(fires), "ns/fire")
			b.ReportMetric(float64(fires)/elapsed.Seconds(), "fires/s")
		})
	}
}

// BenchmarkNewCursor: opening a cursor (listing and sorting the owned
// slots), done once per plan change.
func BenchmarkNewCursor(b *testing.B) {
	for _, owned := range []int64{1_000, 60_000} {
		b.Run(fmt.Sprintf("owned=%d/U=1000000", owned), func(b *testing.B) {
			p := mustPlan(b, []Range{{0, 1_000_000}}, 1_000_000)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.Cursor([]Range{{500_000, 500_000 + uint32(owned)}}, p.Segments[0].T)
			}
		})
	}
}
