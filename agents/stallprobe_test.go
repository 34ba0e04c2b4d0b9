package agents

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// stallProbe measures how late this host wakes a sleeping goroutine while a
// test runs: the scheduling delay every timed event of the test suffers as
// well. Timing checks widen their bounds by what it measured, and say so,
// instead of failing on a host whose other work starves the test.
type stallProbe struct {
	stop chan struct{}
	done chan struct{}
	late *hdrhistogram.Histogram // µs
}

// probeEvery is how often the probe asks to be woken.
const probeEvery = time.Millisecond

func startStallProbe(t testing.TB) *stallProbe {
	p := &stallProbe{stop: make(chan struct{}), done: make(chan struct{}), late: hdrhistogram.New(1, 60_000_000, 3)}
	go func() {
		defer close(p.done)
		tm := time.NewTimer(probeEvery)
		defer tm.Stop()
		due := time.Now().Add(probeEvery)
		for {
			select {
			case <-p.stop:
				return
			case now := <-tm.C:
				p.late.RecordValue(max(1, now.Sub(due).Microseconds()))
				due = time.Now().Add(probeEvery)
				tm.Reset(probeEvery)
			}
		}
	}()
	t.Cleanup(p.end)
	return p
}

func (p *stallProbe) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// result stops the probe and returns its wake-up lateness at the 50th and
// 90th percentiles.
func (p *stallProbe) result() (p50, p90 time.Duration) {
	p.end()
	return time.Duration(p.late.ValueAtQuantile(50)) * time.Microsecond, time.Duration(p.late.ValueAtQuantile(90)) * time.Microsecond
}
