package coordinator

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// HostSink is a Sink that also takes the host points (net, cpu, mem) the
// agents sample and send with their heartbeats. PointSink is one.
type HostSink interface {
	Host(ps ...telemetry.Point)
}

// SinkReporter is a Sink that reports what its telemetry sinks did, for
// status. PointSink is one.
type SinkReporter interface {
	SinkStatus() []api.SinkStatus
}

// Limits on what one heartbeat's host sampling may hold: more is refused,
// so an agent on a host with thousands of interfaces cannot flood the sink.
const (
	maxHostBytes = 1 << 20
	// hostMaxSkew bounds how far a host point's time may be from the
	// coordinator's clock.
	hostMaxSkew = 10 * time.Minute
)

// hostCounters count host points for status.
type hostCounters struct {
	accepted, refused atomic.Int64
}

// hostMeasurement says which measurements agents may report.
func hostMeasurement(m string) bool {
	return m == telemetry.MeasNet || m == telemetry.MeasCPU || m == telemetry.MeasMem
}

// hostPoints hands an agent's host sampling to the sink, tagged with the
// agent's name whatever the agent wrote, and counts what it refuses.
func (c *Coordinator) hostPoints(agent string, h *api.HostMetrics, now time.Time) {
	if h == nil {
		return
	}
	c.host.refused.Add(max(0, h.Dropped))
	hs, ok := c.cfg.Sink.(HostSink)
	if !ok || h.Lines == "" {
		return
	}
	if len(h.Lines) > maxHostBytes {
		c.host.refused.Add(int64(strings.Count(h.Lines, "\n")))
		c.log.Warn("host sampling refused: too large", "agent", agent, "bytes", len(h.Lines))
		return
	}
	ps, err := telemetry.ReadLineProtocol(strings.NewReader(h.Lines))
	if err != nil {
		// ReadLineProtocol stops at the bad line: the lines after it are
		// lost too, counted as one.
		c.host.refused.Add(1)
		c.log.Warn("host sampling: unreadable line", "agent", agent, "err", err)
	}
	keep := ps[:0]
	for _, p := range ps {
		if len(keep) >= api.MaxHostPoints || !hostMeasurement(p.Measurement) ||
			p.Time.IsZero() || p.Time.Sub(now).Abs() > hostMaxSkew {
			c.host.refused.Add(1)
			continue
		}
		p.SetTag("host", agent)
		keep = append(keep, p)
	}
	if len(keep) > 0 {
		c.host.accepted.Add(int64(len(keep)))
		hs.Host(keep...)
	}
}

// telemetryStatus is what the sinks did, nil when the sink reports nothing.
func (c *Coordinator) telemetryStatus() *api.TelemetryStatus {
	r, ok := c.cfg.Sink.(SinkReporter)
	if !ok {
		return nil
	}
	st := &api.TelemetryStatus{
		Sinks:       r.SinkStatus(),
		HostPoints:  c.host.accepted.Load(),
		HostRefused: c.host.refused.Load(),
	}
	st.RunHistogramsError, _ = c.tl.histErr.Load().(string)
	return st
}
