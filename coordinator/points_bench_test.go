package coordinator

import (
	"fmt"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// BenchmarkSecondPoints measures turning one complete second into points
// and encoding them as line protocol, the coordinator's per-second
// telemetry work besides the merge.
func BenchmarkSecondPoints(b *testing.B) {
	for _, agents := range []int{3, 17, 100} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			p := api.Percentiles{Count: 3000, P50: 1, P90: 2, P99: 5, P999: 9, Max: 12}
			ts := TimelineSecond{T: 1_800_000_000, Target: 60000, Shake: p, Open: p, Lateness: p, Agents: map[string]AgentSecond{}}
			for i := range agents {
				ts.Agents[fmt.Sprintf("h%02d", i)] = AgentSecond{Sent: 3000, Received: 3000, Fires: 3000,
					Shake: &p, Open: &p, LatenessP99: 0.4, Conns: &api.Connections{Target: 60000, Established: 60000}}
			}
			var buf []byte
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				ps := SecondPoints(ts)
				n = len(ps)
				buf = buf[:0]
				for i := range ps {
					var err error
					if buf, err = telemetry.AppendLineProtocol(buf, &ps[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n), "points/second")
			b.ReportMetric(float64(len(buf)), "bytes/second")
		})
	}
}
