package coordinator

import (
	"time"

	"github.com/hbctl/hbctl/coordinator/api"

	"github.com/hbctl/hbctl/telemetry"
)

// PointSink turns complete seconds into telemetry points (hb_requests,
// hb_latency, hb_envelopes, hb_connections, hb_schedule) for a telemetry
// sink: the embedded file sink by default, InfluxDB when configured.
type PointSink struct {
	Out telemetry.Sink
}

var _ Sink = PointSink{}

// Second writes one complete second.
func (s PointSink) Second(ts TimelineSecond) {
	t := time.Unix(ts.T, 0)
	tp := func(m string, tags []telemetry.Tag, fs ...telemetry.Field) telemetry.Point {
		return telemetry.NewPoint(m, tags, fs, t)
	}
	ps := []telemetry.Point{
		tp(telemetry.MeasRequests, telemetry.Tags("role", "total", "host", "all", "cmd", "shake"),
			telemetry.Int("sent", ts.Sent), telemetry.Int("received", ts.Received),
			telemetry.Int("got", ts.Got), telemetry.Int("none", ts.None), telemetry.Int("overloaded", ts.Overloaded),
			telemetry.Int("missed", ts.Missed), telemetry.Int("skipped", ts.Skipped),
			telemetry.Int("unanswered", ts.Unanswered), telemetry.Int("lost", ts.Lost)),
		tp(telemetry.MeasRequests, telemetry.Tags("role", "total", "host", "all", "cmd", "open"),
			telemetry.Int("sent", ts.OpenSent), telemetry.Int("received", ts.OpenAnswered)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "agent", "kind", "shake"),
			telemetry.Int("granted", ts.Got), telemetry.Int("amount", ts.GrantAmount)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "agent", "kind", "send"),
			telemetry.Int("opened", ts.OpenAnswered), telemetry.Int("amount", ts.OpenAmount)),
		tp(telemetry.MeasConnections, telemetry.Tags("role", "agent", "host", "all"),
			telemetry.Int("established", int64(ts.Connections.Established)), telemetry.Int("target", int64(ts.Connections.Target)),
			telemetry.Int("failed", ts.Connections.Failed), telemetry.Int("closed", ts.Connections.Closed)),
		tp(telemetry.MeasSchedule, telemetry.Tags("host", "all"),
			telemetry.Int("target_qps", ts.Target), telemetry.Float("lateness_p99", ts.Lateness.P99)),
	}
	for cmd, p := range map[string]api.Percentiles{"shake": ts.Shake, "open": ts.Open} {
		if p.Count > 0 {
			tp := telemetry.Percentiles{P50: p.P50, P90: p.P90, P99: p.P99, P999: p.P999, Max: p.Max, Count: p.Count}
			ps = append(ps, telemetry.LatencyPoint("all", cmd, tp, t))
		}
	}
	for name, a := range ts.Agents {
		ps = append(ps, tp(telemetry.MeasRequests, telemetry.Tags("role", "agent", "host", name, "cmd", "shake"),
			telemetry.Int("sent", a.Sent), telemetry.Int("received", a.Received)))
	}
	s.Out.Write(ps...)
}

// Event is not a point: events live in the timeline file.
func (s PointSink) Event(TimelineEvent) {}
