package server

import (
	"context"
	"sync"
	"testing"
	"time"

	hbserver "github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/telemetry"
)

// fakeStats is a server whose counters the test moves.
type fakeStats struct {
	mu sync.Mutex
	st hbserver.Stats
}

func (f *fakeStats) Stats() hbserver.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeStats) shake(n int64) {
	f.mu.Lock()
	f.st.Requests.Shake += n
	f.st.Results.None += n
	f.st.Shake.Issued += n / 10
	f.st.Connections = n
	f.mu.Unlock()
}

type collect struct {
	mu sync.Mutex
	ps []telemetry.Point
}

func (c *collect) write(ps ...telemetry.Point) {
	c.mu.Lock()
	c.ps = append(c.ps, ps...)
	c.mu.Unlock()
}

func (c *collect) sum(m, field string, kv ...string) (sum int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, p := range c.ps {
		if p.Measurement != m {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if v, _ := p.Tag(kv[i]); v != kv[i+1] {
				continue next
			}
		}
		if v, ok := p.Field(field); ok {
			sum += v.Int()
			n++
		}
	}
	return sum, n
}

// The per-second points are differences of the counters: they sum to what
// changed since the poller started, never to what was there before.
func TestStatsPollerSumsToTotals(t *testing.T) {
	src := &fakeStats{}
	src.shake(1000) // before the baseline: replayed from an earlier run
	out := &collect{}
	p := newStatsPoller(src, telemetry.SinkFunc(out.write), "srv01")
	base := time.Unix(1_800_000_000, 0)
	for i, n := range []int64{300, 0, 450, 7} {
		src.shake(n)
		p.poll(base.Add(time.Duration(i) * time.Second))
	}
	if got, n := out.sum(telemetry.MeasRequests, "received", "role", "server", "host", "srv01", "cmd", "shake"); got != 757 || n != 4 {
		t.Fatalf("received sums to %d over %d points, want 757 over 4", got, n)
	}
	if got, _ := out.sum(telemetry.MeasRequests, "sent", "role", "server", "cmd", "shake"); got != 757 {
		t.Fatalf("SHAKE_RESPs sum to %d, want 757", got)
	}
	if got, _ := out.sum(telemetry.MeasEnvelopes, "issued", "role", "server", "kind", "shake"); got != 75 {
		t.Fatalf("issued sums to %d, want 75", got)
	}
	if _, n := out.sum(telemetry.MeasConnections, "established", "role", "server", "host", "srv01"); n != 4 {
		t.Fatalf("%d connection points, want 4", n)
	}
}

// run polls on the second grid and once more when stopped, so nothing
// that happened before the stop is left out.
func TestStatsPollerFinalPoll(t *testing.T) {
	src := &fakeStats{}
	out := &collect{}
	p := newStatsPoller(src, telemetry.SinkFunc(out.write), "srv01")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	src.shake(42)
	cancel()
	<-done
	if got, _ := out.sum(telemetry.MeasRequests, "received", "cmd", "shake"); got != 42 {
		t.Fatalf("after stop: received sums to %d, want 42", got)
	}
}
