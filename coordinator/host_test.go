package coordinator

import (
	"log/slog"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// FuzzHostPoints feeds arbitrary host sampling to the coordinator: an agent
// may send anything, and what reaches the sink must be host points of that
// agent, counted.
func FuzzHostPoints(f *testing.F) {
	f.Add("net,host=h01,interface=eth0 bytes_sent=1i,bytes_recv=2i 1800000000000000000\n", int64(0))
	f.Add("cpu,cpu=cpu-total,host=x usage_idle=99.5 1800000000000000000\nmem used=3i 1800000000000000000\n", int64(3))
	f.Add("net bytes_sent=1i\n", int64(-1))
	f.Add("disk,host=h01 used=1i 1800000000000000000\nnet,interface=a\\ b x=\"s\" 1800000000000000000", int64(0))
	f.Fuzz(func(t *testing.T, lines string, dropped int64) {
		log := &pointLog{}
		c := &Coordinator{cfg: Config{Sink: PointSink{Out: log}}, log: slog.New(slog.DiscardHandler)}
		now := time.Unix(1_800_000_000, 0)
		c.hostPoints("h01", &api.HostMetrics{Lines: lines, Dropped: dropped}, now)
		if int64(len(log.ps)) != c.host.accepted.Load() || c.host.refused.Load() < 0 {
			t.Fatalf("%d points written, %d accepted, %d refused", len(log.ps), c.host.accepted.Load(), c.host.refused.Load())
		}
		if len(log.ps) > api.MaxHostPoints {
			t.Fatalf("%d points from one heartbeat", len(log.ps))
		}
		for _, p := range log.ps {
			if h, _ := p.Tag("host"); h != "h01" || !hostMeasurement(p.Measurement) || p.Time.Sub(now).Abs() > hostMaxSkew {
				t.Fatalf("point %+v reached the sink", p)
			}
		}
	})
}
