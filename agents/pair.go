package agents

import (
	"time"

	"github.com/hbctl/hbctl/internal/netpoll"
)

// The netpoll.Loop of a loop (netpoll.Pair): the goroutine running it arms
// the timer, for a merged guest's due time as well as its host's, and the
// guest's wake grid is the host's, so that one wake-up serves both.
func (l *loop) Poller() *netpoll.Poller        { return l.poll }
func (l *loop) Step() bool                     { return l.step() }
func (l *loop) Due() int64                     { return l.due }
func (l *loop) Park(at int64, timer bool) bool { return l.park(at, timer) }
func (l *loop) Wake()                          { l.wake() }

// NapFor: due within a grid step, the loop parks with its sockets muted
// (park) and waits for nothing but the time.
func (l *loop) NapFor(at int64) time.Duration {
	if left, soon := l.withinStep(at); soon && left > 0 {
		return time.Duration(left)
	}
	return 0
}
