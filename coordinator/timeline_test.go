package coordinator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

// FuzzHeartbeat feeds arbitrary heartbeat bodies to the aggregation: a
// garbled or hostile agent must never crash the coordinator.
func FuzzHeartbeat(f *testing.F) {
	good, _ := json.Marshal(api.Heartbeat{Seq: 1, Windows: []api.Window{{T: 1_800_000_000 - 3, Sent: 5, Received: 5, None: 5, ShakeLatency: hist(100, 2000)}}})
	f.Add(good)
	f.Add([]byte(`{"seq":1,"windows":[{"t":1,"shake_latency":{"LowestTrackableValue":1,"HighestTrackableValue":2,"SignificantFigures":9,"Counts":[1,2,3]}}]}`))
	f.Add([]byte(`{"seq":2,"windows":[{"t":-9223372036854775808,"sent":-1,"lateness":{"Counts":[-5]}}]}`))
	f.Add([]byte(`{"seq":3,"windows":[{"t":1799999500,"sent":1},{"t":1800000000,"sent":2}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var hb api.Heartbeat
		if json.Unmarshal(b, &hb) != nil {
			return
		}
		tl, err := openTimeline(t.TempDir(), nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer tl.close()
		const now = 1_800_000_000
		tl.add("h01", hb.Windows, now)
		tl.flush(now, func(int64) int64 { return 0 }, api.Connections{})
		tl.flush(now+1, func(int64) int64 { return 0 }, api.Connections{})
		if tl.flushed != 0 && tl.flushed != now+1 {
			t.Fatalf("flushed up to %d, want %d", tl.flushed, now+1)
		}
		var st api.Status
		tl.fill(&st)
	})
}

// BenchmarkTimelineAdd measures the coordinator's per-second work: merging
// one window (counters and three histogram snapshots) from each agent.
func BenchmarkTimelineAdd(b *testing.B) {
	for _, agents := range []int{3, 17, 100} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			tl, err := openTimeline(b.TempDir(), nil, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer tl.close()
			vals := make([]int64, 1000)
			for i := range vals {
				vals[i] = int64(50 + i*7)
			}
			w := api.Window{Sent: 3000, Received: 3000, None: 3000,
				ShakeLatency: hist(vals...), OpenLatency: hist(vals[:10]...), Lateness: hist(vals[:100]...)}
			names := make([]string, agents)
			for i := range names {
				names[i] = fmt.Sprintf("h%02d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sec := int64(1_800_000_000 + i)
				for _, n := range names {
					w.T = sec
					tl.add(n, []api.Window{w}, sec)
				}
				tl.flush(sec, func(int64) int64 { return 3000 }, api.Connections{})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/second")
			b.ReportMetric(float64(b.N*agents)/b.Elapsed().Seconds(), "windows/s")
		})
	}
}
