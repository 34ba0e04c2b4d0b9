package agents

import (
	"github.com/hbctl/hbctl/internal/netpoll"
)

// Loops in pairs (netpoll.Pair): while one thread has time to spare it runs
// two loops on one wake-up, and the guest's wake grid is the host's, so
// that one timer serves both; past that the pair splits onto two threads.

// The netpoll.Loop of a loop: the runner arms the timer for the pair.
func (l *loop) Poller() *netpoll.Poller { return l.poll }
func (l *loop) Step() bool              { return l.step() }
func (l *loop) Due() int64              { return l.due }
func (l *loop) Park(at int64, timer bool) bool {
	return l.park(at, timer)
}
func (l *loop) Wake() { l.wake() }

// pairLoops makes each even loop the host of the next, merged from the
// start: an engine begins idle.
func pairLoops(loops []*loop) error {
	for j := 0; j+1 < len(loops); j += 2 {
		h, g := loops[j], loops[j+1]
		p, err := netpoll.NewPair(h, g, h.e.log)
		if err != nil {
			return err
		}
		h.pair, g.pair = p, p
		g.guestOf = h
	}
	return nil
}

// runLoop runs the loop on its goroutine: alone, as the host of a pair or
// as its guest.
func (l *loop) runLoop() error {
	switch {
	case l.pair == nil:
		return netpoll.RunAlone(l)
	case l.guestOf != nil:
		return l.pair.RunGuest()
	default:
		return l.pair.RunHost()
	}
}

// gridSlot is the loop whose place on the wake grid this loop takes: its
// host's while merged, so that one wake-up serves both.
func (l *loop) gridSlot() int {
	if l.guestOf != nil && l.pair.Merged() {
		return l.guestOf.id
	}
	return l.id
}
