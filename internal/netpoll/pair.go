package netpoll

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Loops in pairs. Paced load costs wake-ups more than work, and every
// event loop wakes on its own: two loops wake a process twice as often as
// one, which on 2 cores cost about 30% more CPU per request at 10,000
// requests a second. One loop, though, is one thread, and at 60,000 a
// second on the same box it fell behind where two kept up. So loops can
// come in pairs, host and guest. While the host's thread has time to spare
// it runs the guest's steps after its own, on the same wake-up; once it is
// busy past SplitAbove it hands the guest back to the guest's own
// goroutine, and once both are idle enough again the guest hands itself
// over. A loop is only ever run by one goroutine at a time: the hand-overs
// go through an atomic and a channel.

// Variables, so that a test can make pairs hand over all the time.
var (
	MeterWindow = 200 * time.Millisecond
	// Merged: the host's thread busy more than this share of SplitAfter
	// windows in a row splits the pair. On 2 cores an agent's merged pair
	// was busy about 20% at 10,000 SHAKE/s, 35-40% at 20,000/s and 60-70%
	// at 40,000/s, where it kept up; at 60,000/s it fell behind.
	SplitAbove = 0.85
	SplitAfter = 2
	// Split: both loops together busy less than this share of MergeAfter
	// windows in a row merge it again. Split costs more per request than
	// merged, so the pair does not flap between the two.
	MergeBelow = 0.5
	MergeAfter = 10
)

// Loop is an event loop that a Pair, or RunAlone, runs.
type Loop interface {
	// Poller is the set the loop parks on.
	Poller() *Poller
	// Step does what is ready and due and reports whether the loop must
	// stop; otherwise it may park.
	Step() (stop bool)
	// Due is when the loop wants to step again, or a negative number when
	// it sets its own timer.
	Due() int64
	// Park readies the loop to sleep until at, when the goroutine that
	// runs it wakes (at < 0: until something is ready), and arms its timer
	// for at when timer is set. False stops the loop.
	Park(at int64, timer bool) bool
	// NapFor is how long the goroutine running the loop may sleep, from
	// now until at, without watching the loop's Poller (a nap, nap.go):
	// zero when something else than the time may need the loop before at.
	NapFor(at int64) time.Duration
	// Wake makes the loop's Poller readable.
	Wake()
}

// PairUp pairs loops two by two, each even one the host of the next, and
// returns each loop's Pair: nil for an odd one out, which runs alone.
func PairUp[L Loop](loops []L, log *slog.Logger) ([]*Pair, error) {
	pairs := make([]*Pair, len(loops))
	for j := 0; j+1 < len(loops); j += 2 {
		p, err := NewPair(loops[j], loops[j+1], log)
		if err != nil {
			return nil, fmt.Errorf("pairing loops: %w", err)
		}
		pairs[j], pairs[j+1] = p, p
	}
	return pairs, nil
}

// Run runs l on the calling goroutine until it stops: alone when p is nil,
// otherwise as p's host or guest, whichever l is.
func Run(l Loop, p *Pair) error {
	switch {
	case p == nil:
		return RunAlone(l)
	case l == p.guest:
		return p.RunGuest()
	default:
		return p.RunHost()
	}
}

// GridSlot is the place on a wake grid of loop id (of PairUp's loops, p
// its pair): its host's while merged, so that one wake-up serves both.
func GridSlot(id int, p *Pair) int {
	if p != nil && p.Merged() {
		return id &^ 1
	}
	return id
}

// RunAlone runs l on the calling goroutine until it stops.
func RunAlone(l Loop) error {
	return runSteps(l.Poller(), func() (bool, time.Duration) {
		if l.Step() {
			return true, 0
		}
		at := l.Due()
		d := napFor(l, at)
		return !l.Park(at, d == 0), d
	})
}

// napFor is how long l's goroutine naps until at instead of parking: zero
// when it parks.
func napFor(l Loop, at int64) time.Duration {
	if at < 0 {
		return 0
	}
	if d := l.NapFor(at); takeNap(d) {
		return d
	}
	return 0
}

// Pair runs two loops on one goroutine while that has time to spare, and
// on two once it has not.
type Pair struct {
	host, guest Loop
	log         *slog.Logger

	merged    atomic.Bool   // the host runs the guest
	wantMerge atomic.Bool   // the host asks the guest to hand itself over
	resume    chan struct{} // the guest's own goroutine runs it again
	guestBusy atomic.Uint32 // the guest's busy share of its last window, in ‰
	handovers atomic.Int64

	// The host's goroutine's.
	hostMeter meter
	streak    int // windows in a row past the threshold of the mode

	// The guest's goroutine's, and the host's while merged.
	guestMeter   meter
	guestStopped bool // once set while merged, merged is never set again

	// mu orders each loop's exit against the other's wake-ups, which must
	// not write to descriptors its owner may have closed.
	mu        sync.Mutex
	hostGone  bool
	guestGone bool // RunGuest has returned
}

const tagGuest int32 = -100 // the guest's poll set in its host's

// NewPair pairs host and guest, merged: loops begin idle.
func NewPair(host, guest Loop, log *slog.Logger) (*Pair, error) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: tagGuest}
	if err := unix.EpollCtl(host.Poller().FD(), unix.EPOLL_CTL_ADD, guest.Poller().FD(), &ev); err != nil {
		return nil, err
	}
	p := &Pair{host: host, guest: guest, log: log, resume: make(chan struct{}, 1)}
	p.merged.Store(true)
	return p, nil
}

// Merged says whether the host runs the guest.
func (p *Pair) Merged() bool { return p.merged.Load() }

// Handovers counts the merges and splits so far.
func (p *Pair) Handovers() int64 { return p.handovers.Load() }

// RunHost runs the host, and the guest while merged, until the host stops.
// The guest's goroutine must be in RunGuest.
func (p *Pair) RunHost() error {
	err := runSteps(p.host.Poller(), p.hostStep)
	p.mu.Lock()
	p.hostGone = true
	if p.merged.Load() {
		p.release() // it stops on its own
	}
	p.mu.Unlock()
	return err
}

func (p *Pair) hostStep() (stop bool, nap time.Duration) {
	t0 := monotonic()
	stop = p.host.Step()
	at := p.host.Due()
	if p.merged.Load() {
		g := p.guest
		if g.Step() {
			p.guestStopped = true
		} else {
			at = earliest(at, g.Due())
			p.guestStopped = !g.Park(at, false)
		}
		if p.guestStopped {
			p.release() // its goroutine sees guestStopped and ends
		}
	}
	if !stop {
		// The guest's sockets, muted or not by its Park, follow the host's.
		nap = napFor(p.host, at)
		stop = !p.host.Park(at, nap == 0)
	}
	if p.hostMeter.add(t0, monotonic()) {
		p.decide()
	}
	return stop, nap
}

// decide splits or merges the pair after a window of the host's meter.
func (p *Pair) decide() {
	if p.merged.Load() {
		if p.hostMeter.share > SplitAbove {
			p.streak++
		} else {
			p.streak = 0
		}
		if p.streak >= SplitAfter {
			p.log.Debug("loops split", "busy", p.hostMeter.share)
			p.release()
		}
		return
	}
	if p.wantMerge.Load() {
		return // asked already
	}
	both := p.hostMeter.share + float64(p.guestBusy.Load())/1000
	if both < MergeBelow {
		p.streak++
	} else {
		p.streak = 0
	}
	if p.streak >= MergeAfter {
		p.log.Debug("loops merge", "busy", both)
		p.streak = 0
		p.mu.Lock()
		if !p.guestGone {
			p.wantMerge.Store(true)
			p.guest.Wake()
		}
		p.mu.Unlock()
	}
}

// release hands the guest back to its own goroutine.
func (p *Pair) release() {
	if err := p.host.Poller().SetMember(p.guest.Poller().FD(), tagGuest, false); err != nil {
		p.log.Warn("epoll ctl", "err", err)
	}
	p.streak = 0
	p.handovers.Add(1)
	// Busy until the guest has measured a window of its own.
	p.guestBusy.Store(1000)
	p.merged.Store(false)
	p.resume <- struct{}{}
}

// RunGuest runs the guest while it is not merged and waits for the host
// to hand it back while it is, until the guest stops. Every hand-back is
// one token on resume, taken once: the guest begins merged, and waits for
// a token after each merge, however soon the host hands it back.
func (p *Pair) RunGuest() error {
	defer func() {
		p.mu.Lock()
		p.guestGone = true
		p.mu.Unlock()
	}()
	g := p.guest
	for {
		<-p.resume
		if p.guestStopped {
			return nil
		}
		p.guestMeter = meter{}
		for merged := false; !merged; {
			if err := runSteps(g.Poller(), p.guestStep); err != nil || p.guestStopped {
				return err
			}
			// The host asked for it. Its events wake the host before the
			// host may run it, so nothing that arrives in between is missed.
			p.wantMerge.Store(false)
			if !g.Park(-1, true) {
				return nil
			}
			p.mu.Lock()
			if !p.hostGone {
				if err := p.host.Poller().SetMember(g.Poller().FD(), tagGuest, true); err != nil {
					p.log.Warn("epoll ctl; loops stay split", "err", err)
				} else {
					p.merged.Store(true)
					p.handovers.Add(1)
					merged = true
					p.host.Wake()
				}
			}
			p.mu.Unlock()
		}
	}
}

func (p *Pair) guestStep() (stop bool, nap time.Duration) {
	g := p.guest
	t0 := monotonic()
	if g.Step() {
		p.guestStopped = true
		return true, 0
	}
	at := g.Due()
	nap = napFor(g, at)
	if !g.Park(at, nap == 0) {
		p.guestStopped = true
		return true, nap
	}
	if p.guestMeter.add(t0, monotonic()) {
		p.guestBusy.Store(uint32(p.guestMeter.share * 1000))
	}
	// Asked to merge: back to RunGuest, which parks it for the host.
	return p.wantMerge.Load(), nap
}

// earliest is the earlier of two Due times, negative ones meaning none.
func earliest(a, b int64) int64 {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

var start = time.Now()

func monotonic() int64 { return int64(time.Since(start)) }

// meter measures the share of wall time a goroutine spends running steps.
type meter struct {
	start, busy int64
	share       float64 // of the last whole window
}

// add counts t0 to t1 as busy and reports whether a window has ended.
func (m *meter) add(t0, t1 int64) bool {
	if m.start == 0 {
		m.start = t0
	}
	m.busy += t1 - t0
	if d := t1 - m.start; d >= int64(MeterWindow) {
		m.share = float64(m.busy) / float64(d)
		m.start, m.busy = t1, 0
		return true
	}
	return false
}
