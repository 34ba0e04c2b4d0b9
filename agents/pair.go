package agents

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/netpoll"
)

// Loops in pairs. Paced load costs wake-ups more than work, and every loop
// wakes on its own grid: two loops wake a process twice as often as one,
// which at 10,000 SHAKE/s on 2 cores cost about 30% more CPU per SHAKE.
// One loop, though, is one thread, and at 60,000 SHAKE/s on the same box
// it fell behind where two kept to the target. So the default loops come
// in pairs, host and guest. While the host's thread has time to spare, it
// runs the guest's steps after its own, and the guest's grid is the host's:
// one wake-up serves both. Once the host is busy past splitAbove, it hands
// the guest back to its own goroutine; once both are idle enough again, the
// guest hands itself over. A loop's state is only ever touched by the one
// goroutine that runs it at the time: the hand-overs go through merged,
// an atomic, and resume, a channel.

// Variables, so that a test can make pairs hand over all the time.
var (
	meterWindow = 200 * time.Millisecond
	// Merged: the host's thread busy more than this share of splitAfter
	// windows in a row splits the pair. On 2 cores a merged pair was busy
	// about 20% at 10,000 SHAKE/s, 35-40% at 20,000/s and 60-70% at
	// 40,000/s, where it kept up; at 60,000/s it fell behind.
	splitAbove = 0.85
	splitAfter = 2
	// Split: both loops together busy less than this share of mergeAfter
	// windows in a row merge it again. Split costs more per SHAKE than
	// merged, so the pair does not flap between the two.
	mergeBelow = 0.5
	mergeAfter = 10
)

const tagGuest int32 = -4 // the guest's poll set in its host's

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
	if d := t1 - m.start; d >= int64(meterWindow) {
		m.share = float64(m.busy) / float64(d)
		m.start, m.busy = t1, 0
		return true
	}
	return false
}

// pairLoops makes each even loop the host of the next, merged from the
// start: an engine begins idle.
func pairLoops(loops []*loop) error {
	for j := 0; j+1 < len(loops); j += 2 {
		h, g := loops[j], loops[j+1]
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: tagGuest}
		if err := unix.EpollCtl(h.poll.FD(), unix.EPOLL_CTL_ADD, g.poll.FD(), &ev); err != nil {
			return err
		}
		h.guest, g.host = g, h
		g.resume = make(chan struct{}, 1)
		g.merged.Store(true)
	}
	return nil
}

// runHost runs the loop, and its guest while they are merged.
func (l *loop) runHost() error {
	err := l.poll.Run(l.hostStep)
	if g := l.guest; g != nil {
		l.pairMu.Lock()
		l.hostGone = true
		if !l.guestGone && g.merged.Load() {
			l.release() // it stops on its own
		}
		l.pairMu.Unlock()
	}
	return err
}

func (l *loop) hostStep() bool {
	g := l.guest
	if g == nil {
		return l.step() || !l.park(l.due, true)
	}
	t0 := l.now()
	stop := l.step()
	d := l.due
	if !l.guestGone && g.merged.Load() {
		if g.step() {
			l.guestGone = true // it stopped: its goroutine ends it
			l.release()
		} else {
			d = min(d, g.due)
			if !g.park(d, false) {
				l.guestGone = true
				l.release()
			}
		}
	}
	stop = stop || !l.park(d, true)
	if now := l.now(); !l.guestGone && l.meter.add(t0, now) {
		l.decide()
	}
	return stop
}

// decide splits or merges the pair after a window of the host's meter.
func (l *loop) decide() {
	g := l.guest
	if g.merged.Load() {
		if l.meter.share > splitAbove {
			l.streak++
		} else {
			l.streak = 0
		}
		if l.streak >= splitAfter {
			l.e.log.Debug("loops split", "loops", []int{l.id, g.id}, "busy", l.meter.share)
			l.release()
		}
		return
	}
	if g.wantMerge.Load() {
		return // asked already
	}
	both := l.meter.share + float64(g.busyPM.Load())/1000
	if both < mergeBelow {
		l.streak++
	} else {
		l.streak = 0
	}
	if l.streak >= mergeAfter {
		l.e.log.Debug("loops merge", "loops", []int{l.id, g.id}, "busy", both)
		l.streak = 0
		g.wantMerge.Store(true)
		g.wake()
	}
}

// release hands the guest back to its own goroutine.
func (l *loop) release() {
	g := l.guest
	if err := l.poll.SetMember(g.poll.FD(), tagGuest, false); err != nil {
		l.e.log.Warn("epoll ctl", "err", err)
	}
	l.streak = 0
	l.e.handovers.Add(1)
	g.merged.Store(false)
	g.resume <- struct{}{}
}

// runGuest runs the loop on its own goroutine while it is not merged, and
// waits for its host to hand it back while it is.
func (l *loop) runGuest() error {
	for {
		if l.merged.Load() {
			<-l.resume
			if l.quit {
				return nil
			}
			continue
		}
		if err := l.poll.Run(l.guestStep); err != nil || l.quit {
			return err
		}
		// The host asked for it. Its events wake the host before the host
		// may run it, so nothing that arrives in between is missed.
		l.wantMerge.Store(false)
		// Merged, the host's timer wakes for both.
		if err := netpoll.TimerSet(l.tfd, 0); err != nil {
			l.e.log.Warn("timerfd", "err", err)
		}
		l.armed = 0
		h := l.host
		h.pairMu.Lock()
		if h.hostGone {
			h.pairMu.Unlock()
			continue
		}
		if err := h.poll.SetMember(l.poll.FD(), tagGuest, true); err != nil {
			h.pairMu.Unlock()
			l.e.log.Warn("epoll ctl; loops stay split", "err", err)
			continue
		}
		l.merged.Store(true)
		l.e.handovers.Add(1)
		h.pairMu.Unlock()
		h.wake()
	}
}

func (l *loop) guestStep() bool {
	t0 := l.now()
	stop := l.step() || !l.park(l.due, true)
	if now := l.now(); l.meter.add(t0, now) {
		l.busyPM.Store(uint32(l.meter.share * 1000))
	}
	return stop || l.wantMerge.Load()
}

// gridSlot is the loop whose place on the wake grid this loop takes: its
// host's while merged, so that one wake-up serves both.
func (l *loop) gridSlot() int {
	if l.host != nil && l.merged.Load() {
		return l.host.id
	}
	return l.id
}
