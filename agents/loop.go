package agents

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// Epoll tags of a loop's own descriptors; connections use their index.
const (
	tagTimer int32 = -1
	tagWake  int32 = -2
)

const (
	sweepEvery = 100 * time.Millisecond // timeout checks
	// spin is the gap under which a loop polls instead of arming its timer:
	// a timer wake-up costs more than it saves below this.
	spin       = 20 * time.Microsecond
	readBufLen = 64 << 10
)

var (
	errBlocked    = errors.New("socket send buffer full")
	errShortWrite = errors.New("short write")
)

// Close reasons.
const (
	whyFailed   = iota // dial or login failed: back off further
	whyClosed          // an established connection ended
	whyOverflow        // too many SHAKEs pending
	whyProtocol        // a bad frame
	whyDropped         // the user is no longer held: no reconnect
)

// ack is a counter update that waits for its journal record to be durable.
type ack struct {
	uid  uint32
	open bool // OPEN_RESP; otherwise a grant
}

type openKey struct{ uid, env uint32 }

// loop is one event loop: an epoll set over its users' sockets, a timerfd
// for the next deadline and an eventfd for commands and journal
// acknowledgements. Its users, pacer, timers and windows are owned by its
// goroutine; other goroutines reach them only through call.
type loop struct {
	e   *Engine
	id  int
	ep  int
	tfd int
	efd int

	mu    sync.Mutex // guards cmds and acks
	cmds  []func()
	acks  []ack
	done  chan struct{}
	quit  bool // set by a command; the loop exits after the iteration
	armed int64

	servers   []endpoint    // the engine's, with sockaddrs of the loop's own
	bind      unix.Sockaddr // likewise
	conns     []conn        // owned users, sorted by uid
	owned     []schedule.Range
	up        int // conns in stUp
	pc        pacer
	dials     minHeap[uint32] // users waiting for a dial, by retryAt
	dialWake  int64           // when to look at dials again; 0 when none wait
	opensDue  minHeap[openTimer]
	opens     map[openKey]int64 // OPENs awaiting OPEN_RESP: intended time
	nextSweep int64
	wins      windows
	tot       Counts
	recs      []ledger.Record
	batch     []ack
	rbuf      []byte
	wbuf      []byte
	events    []unix.EpollEvent
}

func newLoop(e *Engine, id int, base int64) (*loop, error) {
	l := &loop{e: e, id: id, ep: -1, tfd: -1, efd: -1, done: make(chan struct{}),
		opens: make(map[openKey]int64), rbuf: make([]byte, readBufLen),
		wbuf: make([]byte, 0, wire.MaxFrameLen), events: make([]unix.EpollEvent, 256)}
	l.wins.init(base)
	for _, ep := range e.servers {
		ep.sa = cloneSockaddr(ep.sa)
		l.servers = append(l.servers, ep)
	}
	if e.bind != nil {
		l.bind = cloneSockaddr(e.bind)
	}
	var err error
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	for _, t := range []struct {
		fd  int
		tag int32
	}{{l.tfd, tagTimer}, {l.efd, tagWake}} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: t.tag}
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, t.fd, &ev); err != nil {
			l.closeFds()
			return nil, fmt.Errorf("epoll add: %w", err)
		}
	}
	return l, nil
}

func (l *loop) closeFds() {
	for _, fd := range []int{l.ep, l.tfd, l.efd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

func (l *loop) now() int64 { return l.e.cfg.Now() }

// wake makes the loop's epoll_wait return.
func (l *loop) wake() {
	var one = [8]byte{1}
	unix.Write(l.efd, one[:]) // EAGAIN means a wake-up is already pending
}

// call runs f on the loop's goroutine and waits for it. After the loop has
// stopped it runs nothing and returns false.
func (l *loop) call(f func()) bool {
	ran := make(chan struct{})
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		return false
	default:
	}
	wasEmpty := len(l.cmds) == 0
	l.cmds = append(l.cmds, func() { f(); close(ran) })
	l.mu.Unlock()
	if wasEmpty {
		l.wake()
	}
	select {
	case <-ran:
		return true
	case <-l.done:
		return false
	}
}

// postAcks is the journal's durability callback: it must not block.
func (l *loop) postAcks(acks []ack, err error) {
	if err != nil {
		l.e.journalFailed(err)
	}
	l.mu.Lock()
	wasEmpty := len(l.acks) == 0
	l.acks = append(l.acks, acks...)
	l.mu.Unlock()
	if wasEmpty {
		l.wake()
	}
}

func (l *loop) run() {
	defer func() {
		l.mu.Lock()
		close(l.done)
		l.mu.Unlock()
		l.closeFds()
	}()
	l.nextSweep = l.now() + int64(sweepEvery)
	for {
		now := l.now()
		l.tick(now)
		if l.quit {
			return
		}
		timeout := 0
		if d := l.deadline() - l.now(); d > int64(spin) {
			l.arm(d)
			timeout = -1
		}
		n, err := unix.EpollWait(l.ep, l.events, timeout)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			l.e.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
			return
		}
		now = l.now()
		for _, ev := range l.events[:n] {
			switch ev.Fd {
			case tagTimer:
				var b [8]byte
				unix.Read(l.tfd, b[:])
				l.armed = 0
			case tagWake:
				var b [8]byte
				unix.Read(l.efd, b[:])
				l.runCommands()
			default:
				l.onEvent(ev, now)
			}
		}
	}
}

// arm sets the timerfd to fire in d ns, unless it is already set to about
// then.
func (l *loop) arm(d int64) {
	at := l.now() + d
	if l.armed != 0 && abs(l.armed-at) < int64(spin) {
		return
	}
	ts := unix.ItimerSpec{Value: unix.NsecToTimespec(d)}
	if err := unix.TimerfdSettime(l.tfd, 0, &ts, nil); err != nil {
		l.e.log.Error("timerfd", "err", err)
		return
	}
	l.armed = at
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (l *loop) runCommands() {
	l.mu.Lock()
	cmds, acks := l.cmds, l.acks
	l.cmds, l.acks = nil, nil
	l.mu.Unlock()
	l.applyAcks(acks)
	for _, f := range cmds {
		f()
	}
}

// applyAcks counts what the journal has made durable.
func (l *loop) applyAcks(acks []ack) {
	for _, a := range acks {
		i, ok := l.find(a.uid)
		if !ok {
			l.e.ackRetired(a)
			continue
		}
		c := &l.conns[i]
		if a.open {
			c.u.OpenAnswered++
		} else {
			c.u.Got++
			c.awaiting--
		}
	}
}

// tick does everything due at now: fires, OPENs, dials, timeouts, closing
// windows, and the journal batch of this iteration.
func (l *loop) tick(now int64) {
	l.fireDue(now)
	l.openDue(now)
	l.dialDue(now)
	if now >= l.nextSweep {
		l.sweep(now)
		l.nextSweep = now + int64(sweepEvery)
	}
	l.closeWindows(now)
	l.flush()
}

// deadline is the next time tick has work.
func (l *loop) deadline() int64 {
	now := l.now()
	d := min((l.wins.base+1)*int64(time.Second), l.nextSweep)
	if f, ok := l.pc.peek(l.owned, now); ok {
		d = min(d, f.At)
	}
	if at, ok := l.opensDue.Top(); ok {
		d = min(d, at)
	}
	if l.dialWake != 0 {
		d = min(d, l.dialWake)
	}
	return d
}

// fireDue sends every fire whose intended time has come, as one batch.
func (l *loop) fireDue(now int64) {
	for n := 0; n < maxBatch; n++ {
		f, ok := l.pc.peek(l.owned, now)
		if !ok || f.At > now {
			return
		}
		l.pc.cur.Next()
		l.fire(f)
		if n%64 == 63 {
			now = l.now()
		}
	}
}

func (l *loop) fire(f schedule.Fire) {
	i, ok := l.find(f.UID)
	if !ok {
		return // a plan user this agent does not hold
	}
	c := &l.conns[i]
	w := &l.wins.at(f.At).c
	w.Fires++
	switch {
	case c.state != stUp:
		w.Missed++
		return
	case c.skipLeft > 0:
		c.skipLeft--
		c.u.Skipped++
		w.Skipped++
		return
	}
	if int(c.plen) >= l.e.cfg.MaxPending {
		w.Missed++
		l.closeConn(i, l.now(), whyOverflow)
		return
	}
	now := l.now()
	fr := wire.Shake(uint64(now/int64(time.Second)), c.uid)
	err := l.write(c, &fr)
	if err != nil {
		w.Missed++
		if err != errBlocked {
			l.closeConn(i, now, whyClosed)
		}
		return
	}
	c.u.Shake++
	c.pushPending(f.At)
	w.Sent++
	recordMicros(l.wins.at(f.At).late, now-f.At)
}

func (l *loop) write(c *conn, f *wire.Frame) error {
	l.wbuf = wire.Append(l.wbuf[:0], f)
	n, err := unix.Write(int(c.fd), l.wbuf)
	switch {
	case err == unix.EAGAIN:
		return errBlocked
	case err != nil:
		return err
	case n < len(l.wbuf):
		// Part of a frame is on the wire: the stream cannot be resumed.
		return errShortWrite
	}
	return nil
}

// find is the index of uid in conns.
func (l *loop) find(uid uint32) (int, bool) {
	i := sort.Search(len(l.conns), func(k int) bool { return l.conns[k].uid >= uid })
	return i, i < len(l.conns) && l.conns[i].uid == uid
}

func (l *loop) openDue(now int64) {
	for {
		at, ok := l.opensDue.Top()
		if !ok || at > now {
			return
		}
		_, t := l.opensDue.Pop()
		i, ok := l.find(t.uid)
		if !ok {
			continue
		}
		c := &l.conns[i]
		w := &l.wins.at(at).c
		if c.state != stUp {
			w.OpenMissed++
			continue
		}
		fr := wire.Open(uint64(now/int64(time.Second)), c.uid, t.env)
		if err := l.write(c, &fr); err != nil {
			w.OpenMissed++
			if err != errBlocked {
				l.closeConn(i, now, whyClosed)
			}
			continue
		}
		c.u.OpenSent++
		w.OpenSent++
		l.opens[openKey{t.uid, t.env}] = at
	}
}

// sweep counts SHAKEs past the timeout and fails dials and logins that
// take too long.
func (l *loop) sweep(now int64) {
	to := int64(l.e.cfg.Timeout)
	for i := range l.conns {
		c := &l.conns[i]
		switch c.state {
		case stConnecting, stLoggingIn:
			if now-c.since > to {
				l.closeConn(i, now, whyFailed)
			}
			continue
		case stIdle:
			continue
		}
		for c.pexp < c.plen && c.pending[(int(c.phead)+int(c.pexp))%maxPendingCap]+to <= now {
			c.pexp++
			c.u.Unanswered++
			l.wins.at(now).c.Unanswered++
		}
	}
}

// closeWindows hands every second that ended before now to the assembler.
func (l *loop) closeWindows(now int64) {
	cur := now / int64(time.Second)
	if cur-l.wins.base > int64(len(l.wins.ring)) {
		// The clock leapt (a suspended host, a stepped clock): keep what was
		// counted in one window instead of emitting one per skipped second.
		acc := l.wins.oldest()
		for _, a := range l.wins.ring {
			if a != acc {
				acc.c.Add(&a.c)
				acc.shakeLat.Merge(a.shakeLat)
				acc.openLat.Merge(a.openLat)
				acc.late.Merge(a.late)
				a.reset()
			}
		}
		l.tot.Add(&acc.c)
		l.e.asm.add(l.wins.base, acc, l.up)
		acc.reset()
		l.wins.base = cur
		return
	}
	for (l.wins.base+1)*int64(time.Second) <= now {
		acc := l.wins.oldest()
		l.tot.Add(&acc.c)
		l.e.asm.add(l.wins.base, acc, l.up)
		acc.reset()
		l.wins.base++
	}
}

// flush journals this iteration's records in one batch; their counters
// are updated once the batch is durable.
func (l *loop) flush() {
	if len(l.recs) == 0 {
		return
	}
	acks := l.batch
	l.batch = nil
	l.e.journal.AppendAsync(func(err error) { l.postAcks(acks, err) }, l.recs...)
	clear(l.recs)
	l.recs = l.recs[:0]
}

// status is the loop's share of Status.
type loopStatus struct {
	target, up, connecting int
	tot                    Counts
	planID                 uint64
	rate                   int64
}

func (l *loop) status() loopStatus {
	s := loopStatus{target: len(l.conns), up: l.up, tot: l.tot, planID: l.pc.id(), rate: l.pc.rate(l.now())}
	for _, a := range l.wins.ring {
		s.tot.Add(&a.c)
	}
	for i := range l.conns {
		if st := l.conns[i].state; st == stConnecting || st == stLoggingIn {
			s.connecting++
		}
	}
	return s
}

func (l *loop) openDelay() int64 {
	lo, hi := int64(l.e.cfg.OpenDelayMin), int64(l.e.cfg.OpenDelayMax)
	if hi <= lo {
		return lo
	}
	return lo + rand.Int64N(hi-lo)
}
