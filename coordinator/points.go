package coordinator

import (
	"slices"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// PointSink turns complete seconds into telemetry points (hb_requests,
// hb_latency, hb_envelopes, hb_connections, hb_schedule) and passes the
// agents' host points (net, cpu, mem) on, to a telemetry sink: the
// embedded file sink by default, a Tee of it and InfluxDB when configured.
//
// Per second it writes, at the second's start:
//
//	hb_requests    role=total,host=all,cmd=shake|open  and  role=agent,host=<agent>,cmd=shake|open
//	hb_latency     host=all,cmd=shake|open  and  host=<agent>,cmd=shake|open   (when any response was measured)
//	hb_envelopes   role=agent,kind=shake|send
//	hb_connections role=agent,host=<agent>
//	hb_schedule    host=all  and  host=<agent>
//
// The servers write their own role=server points.
type PointSink struct {
	Out telemetry.Sink
	// Named are the sinks behind Out, reported by SinkStatus; empty means
	// Out alone, reported as "sink".
	Named []NamedSink
}

// NamedSink is one telemetry sink as status shows it.
type NamedSink struct {
	Name   string // file, influx
	Target string // path or URL
	Sink   telemetry.Sink
}

var (
	_ Sink         = PointSink{}
	_ HostSink     = PointSink{}
	_ SinkReporter = PointSink{}
)

// The cmd tag values; the dashboards filter on them.
const (
	cmdShake = "shake"
	cmdOpen  = "open"
)

// Second writes one complete second.
func (s PointSink) Second(ts TimelineSecond) {
	s.Out.Write(SecondPoints(ts)...)
}

// SecondPoints are the points of one complete second.
func SecondPoints(ts TimelineSecond) []telemetry.Point {
	t := time.Unix(ts.T, 0)
	tp := func(m string, tags []telemetry.Tag, fs ...telemetry.Field) telemetry.Point {
		return telemetry.NewPoint(m, tags, fs, t)
	}
	I := telemetry.Int
	names := make([]string, 0, len(ts.Agents))
	var notified int64
	for name, a := range ts.Agents {
		names = append(names, name)
		notified += a.Notified
	}
	slices.Sort(names)

	ps := make([]telemetry.Point, 0, 8+7*len(names))
	ps = append(ps,
		tp(telemetry.MeasRequests, telemetry.Tags("role", "total", "host", "all", "cmd", cmdShake),
			I("sent", ts.Sent), I("received", ts.Received),
			I("got", ts.Got), I("none", ts.None), I("overloaded", ts.Overloaded),
			I("missed", ts.Missed), I("skipped", ts.Skipped),
			I("unanswered", ts.Unanswered), I("lost", ts.Lost)),
		// OPENs answer envelopes as they come, not a schedule: never
		// missed or skipped.
		tp(telemetry.MeasRequests, telemetry.Tags("role", "total", "host", "all", "cmd", cmdOpen),
			I("sent", ts.OpenSent), I("received", ts.OpenAnswered), I("missed", 0), I("skipped", 0)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "agent", "kind", "shake"),
			I("received", ts.Got), I("amount", ts.GrantAmount)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "agent", "kind", "send"),
			I("received", notified), I("opened", ts.OpenAnswered), I("amount", ts.OpenAmount)),
	)
	sched := []telemetry.Field{I("target_qps", ts.Target)}
	if ts.Lateness.Count > 0 {
		sched = append(sched, telemetry.Float("lateness_p99", ts.Lateness.P99))
	}
	ps = append(ps, tp(telemetry.MeasSchedule, telemetry.Tags("host", "all"), sched...))
	ps = appendLatency(ps, "all", cmdShake, &ts.Shake, t)
	ps = appendLatency(ps, "all", cmdOpen, &ts.Open, t)

	for _, name := range names {
		a := ts.Agents[name]
		ps = append(ps,
			tp(telemetry.MeasRequests, telemetry.Tags("role", "agent", "host", name, "cmd", cmdShake),
				I("sent", a.Sent), I("received", a.Received),
				I("got", a.Got), I("none", a.None), I("overloaded", a.Overloaded),
				I("missed", a.Missed), I("skipped", a.Skipped),
				I("unanswered", a.Unanswered), I("lost", a.Lost)),
			tp(telemetry.MeasRequests, telemetry.Tags("role", "agent", "host", name, "cmd", cmdOpen),
				I("sent", a.OpenSent), I("received", a.OpenAnswered), I("missed", 0), I("skipped", 0)),
		)
		ps = appendLatency(ps, name, cmdShake, a.Shake, t)
		ps = appendLatency(ps, name, cmdOpen, a.Open, t)
		sched := []telemetry.Field{I("target_qps", a.Fires)}
		if a.LatenessP99 > 0 {
			sched = append(sched, telemetry.Float("lateness_p99", a.LatenessP99))
		}
		if a.Conns != nil {
			sched = append(sched, telemetry.Float("clock_offset", a.OffsetMs), telemetry.Float("clock_delay", a.DelayMs))
			ps = append(ps, tp(telemetry.MeasConnections, telemetry.Tags("role", "agent", "host", name),
				I("established", int64(a.Conns.Established)), I("target", int64(a.Conns.Target)),
				I("failed", a.Conns.Failed), I("closed", a.Conns.Closed)))
		}
		ps = append(ps, tp(telemetry.MeasSchedule, telemetry.Tags("host", name), sched...))
	}
	return ps
}

func appendLatency(ps []telemetry.Point, host, cmd string, p *api.Percentiles, t time.Time) []telemetry.Point {
	if p == nil || p.Count <= 0 {
		return ps
	}
	tp := telemetry.Percentiles{P50: p.P50, P90: p.P90, P99: p.P99, P999: p.P999, Max: p.Max, Count: p.Count}
	return append(ps, telemetry.LatencyPoint(host, cmd, tp, t))
}

// Event is not a point: events live in the timeline file.
func (s PointSink) Event(TimelineEvent) {}

// Host passes the agents' host points on.
func (s PointSink) Host(ps ...telemetry.Point) { s.Out.Write(ps...) }

// SinkStatus reports each named sink's counters.
func (s PointSink) SinkStatus() []api.SinkStatus {
	named := s.Named
	if len(named) == 0 {
		named = []NamedSink{{Name: "sink", Sink: s.Out}}
	}
	out := make([]api.SinkStatus, 0, len(named))
	for _, n := range named {
		st := n.Sink.Stats()
		out = append(out, api.SinkStatus{Name: n.Name, Target: n.Target,
			Written: st.Written, Dropped: st.Dropped, Errors: st.Errors, LastError: st.LastError})
	}
	return out
}
