package remote

import (
	"sync"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// hostBuffer holds host points between two heartbeats, as line protocol,
// bounded by api.MaxHostPoints: a sampler never waits on the coordinator.
type hostBuffer struct {
	mu      sync.Mutex
	lines   []byte // mu
	n       int    // mu: points in lines
	dropped int64  // mu: points refused since the last take
}

// HostPoints queues host points (the output of a telemetry.Sampler) for
// the next heartbeat. It never blocks: beyond api.MaxHostPoints points
// waiting, new ones are dropped and the count is reported to the
// coordinator. Points that cannot be encoded are dropped too.
func (a *Agent) HostPoints(ps ...telemetry.Point) { a.host.add(ps) }

func (b *hostBuffer) add(ps []telemetry.Point) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range ps {
		if b.n >= api.MaxHostPoints {
			b.dropped += int64(len(ps) - i)
			return
		}
		out, err := telemetry.AppendLineProtocol(b.lines, &ps[i])
		if err != nil {
			b.dropped++
			continue
		}
		b.lines = out
		b.n++
	}
}

// take returns what is queued and empties the buffer; nil when nothing is.
// Host points of a heartbeat that fails are not resent: they are a sample,
// and the next round brings new cumulative counters.
func (b *hostBuffer) take() *api.HostMetrics {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 && b.dropped == 0 {
		return nil
	}
	h := &api.HostMetrics{Lines: string(b.lines), Dropped: b.dropped}
	b.lines, b.n, b.dropped = b.lines[:0], 0, 0
	return h
}
