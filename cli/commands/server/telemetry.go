package server

import (
	"context"
	"log/slog"
	"time"

	hbserver "github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/telemetry"
	"github.com/hbctl/hbctl/telemetry/influxflags"
)

// statsSource is what the telemetry loop reads: (*server.Server).Stats.
type statsSource interface {
	Stats() hbserver.Stats
}

var _ statsSource = (*hbserver.Server)(nil)

// openSink opens the server's metric sinks (influxflags.Open): the server
// always keeps its own per-second record in its data dir; InfluxDB only
// when asked.
func openSink(ctx context.Context, dataDir string, ic telemetry.InfluxConfig, log *slog.Logger) (telemetry.Sink, error) {
	s, err := influxflags.Open(ctx, dataDir, ic, log)
	if err != nil {
		return nil, err
	}
	return s.Out, nil
}

// statsPoller turns the server's cumulative counters into per-second
// points: each whole second it reads Stats and writes the differences,
// stamped with the second they cover, so the per-second sums equal the
// counters exactly.
type statsPoller struct {
	src  statsSource
	out  telemetry.Sink
	host string
	prev hbserver.Stats
}

func newStatsPoller(src statsSource, out telemetry.Sink, host string) *statsPoller {
	return &statsPoller{src: src, out: out, host: host, prev: src.Stats()}
}

// run polls on the wall-clock grid until ctx ends, then once more so the
// last partial second is counted too.
func (p *statsPoller) run(ctx context.Context) {
	for {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			p.poll(time.Now().Truncate(time.Second))
			return
		case <-t.C:
			p.poll(next.Add(-time.Second))
		}
	}
}

// poll writes the points of the counters' change since the last poll,
// stamped sec (the start of the second they cover).
func (p *statsPoller) poll(sec time.Time) {
	st := p.src.Stats()
	p.out.Write(serverPoints(p.host, sec, &p.prev, &st)...)
	p.prev = st
}

// serverPoints are the role=server points of the change from a to b.
func serverPoints(host string, t time.Time, a, b *hbserver.Stats) []telemetry.Point {
	I := telemetry.Int
	tp := func(m string, tags []telemetry.Tag, fs ...telemetry.Field) telemetry.Point {
		return telemetry.NewPoint(m, tags, fs, t)
	}
	dGot := b.Results.Got - a.Results.Got
	dNone := b.Results.None - a.Results.None
	dOver := b.Results.Overloaded - a.Results.Overloaded
	return []telemetry.Point{
		// received: SHAKEs that arrived; sent: SHAKE_RESPs written.
		tp(telemetry.MeasRequests, telemetry.Tags("role", "server", "host", host, "cmd", "shake"),
			I("received", b.Requests.Shake-a.Requests.Shake), I("sent", dGot+dNone+dOver),
			I("got", dGot), I("none", dNone), I("overloaded", dOver)),
		tp(telemetry.MeasRequests, telemetry.Tags("role", "server", "host", host, "cmd", "open"),
			I("received", b.Requests.Open-a.Requests.Open)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "server", "kind", "shake"),
			I("issued", b.Shake.Issued-a.Shake.Issued), I("granted", b.Shake.Granted-a.Shake.Granted),
			I("amount", b.Shake.GrantedAmount-a.Shake.GrantedAmount)),
		tp(telemetry.MeasEnvelopes, telemetry.Tags("role", "server", "kind", "send"),
			I("issued", b.Send.Sent-a.Send.Sent), I("opened", b.Send.Opened-a.Send.Opened),
			I("amount", b.Send.OpenedAmount-a.Send.OpenedAmount)),
		tp(telemetry.MeasConnections, telemetry.Tags("role", "server", "host", host),
			I("established", b.Connections)),
	}
}
