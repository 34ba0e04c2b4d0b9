package agents

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// Epoll tags of a loop's own descriptors; connections use their index.
const (
	tagTimer   int32 = -1
	tagWake    int32 = -2
	tagSockets int32 = -3
)

const (
	sweepEvery = 100 * time.Millisecond // timeout checks
	readBufLen = 64 << 10
)

// connEvents are a connection's epoll events. Edge-triggered: a socket is
// reported once per arrival, where level-triggered it was polled again at
// the next wait to learn it was drained (tcp_poll twice per answer). What
// a read leaves behind, a full buffer or a hang-up not yet read, is read
// again from loop.again.
const connEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

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

// readAgain is a conn to read again (loop.again), with its generation, so
// that a connection closed and reopened since is not.
type readAgain struct {
	idx int32
	gen uint32
	hup bool
}

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
	e    *Engine
	id   int
	poll *netpoll.Poller // the set the loop parks on: tfd, efd and, while sockWake, ep
	ep   int             // the sockets' epoll set, polled, never waited on
	tfd  int
	efd  int

	mu       sync.Mutex // guards cmds and acks
	cmds     []func()
	acks     []ack
	signaled atomic.Bool // cmds or acks were posted: read efd and run them
	done     chan struct{}
	quit     bool  // set by a command; the loop exits after the iteration
	armed    int64 // when the timer is set to expire; in the past once it has
	due      int64 // when step wants to run next (on the grid), once it parks
	more     bool  // a read left something behind (again): step once more
	// again lists the sockets to read again, which their edge-triggered
	// events will not report again: a read that filled the buffer, or
	// that came with a hang-up (the end of the stream is still to read).
	again, againNext []readAgain
	// sockWake: readable sockets wake the loop. Off while the timer will
	// wake it within a grid step anyway: reads then wait for that wake-up
	// and answers are timed by the kernel's receive timestamps.
	sockWake bool
	oob      [8]uint64 // control messages of a read, aligned for a cmsghdr

	servers  []endpoint    // the engine's, with sockaddrs of the loop's own
	bind     unix.Sockaddr // likewise
	conns    []conn        // every uid of owned, in order
	owned    []schedule.Range
	firsts   []int32 // firsts[k]: the index in conns of owned[k].Lo, for find
	up       int     // conns in stUp
	pc       pacer
	dials    minHeap[uint32] // users waiting for a dial, by retryAt
	dialWake int64           // when to look at dials again; 0 when none wait
	opensDue minHeap[openTimer]
	opens    map[openKey]int64 // OPENs awaiting OPEN_RESP: intended time
	// opening holds every envelope this loop's users are opening or have
	// opened, so that each is opened once however many times its ENVELOPE
	// comes (delivery is at least once).
	opening map[openKey]struct{}
	// reopen lists, per user, the OPENs its connection lost (in flight,
	// or due while it was down): they are sent again after its next
	// login. A repeated OPEN is paid once and answered with the same share,
	// so the client gets the share the server may already have paid.
	reopen    map[uint32][]uint32
	nextSweep int64
	// SHAKEs awaiting an answer, in the order sent (which is the order of
	// their intended times), so that the timeout check costs what expires
	// rather than a pass over every connection.
	expiries fifo[expiry]
	lastAt   int64 // intended time of the last SHAKE queued in expiries
	// Until scanAll the sweep also walks every connection: expiries may
	// be out of order (a plan switch) or incomplete (users re-indexed).
	scanAll    int64
	connecting int // conns dialing or logging in
	// cgen is bumped wherever a held user's counters (or its Pending)
	// change, and when the users held change: a checkpoint that finds
	// every generation as it wrote them rewrites only its time.
	cgen   uint64
	wins   windows
	tot    Counts
	recs   []ledger.Record
	batch  []ack
	rbuf   []byte
	wbuf   []byte
	events []unix.EpollEvent

	// pair runs two loops on one goroutine while that has time to spare;
	// nil when this loop runs alone.
	pair *netpoll.Pair
}

func newLoop(e *Engine, id int, base int64) (*loop, error) {
	l := &loop{e: e, id: id, ep: -1, tfd: -1, efd: -1, done: make(chan struct{}),
		opens: make(map[openKey]int64), opening: make(map[openKey]struct{}), reopen: make(map[uint32][]uint32), rbuf: make([]byte, readBufLen),
		wbuf: make([]byte, 0, wire.MaxFrameLen), events: make([]unix.EpollEvent, 256)}
	l.wins.init(base)
	l.nextSweep = e.cfg.Now() + int64(sweepEvery)
	for _, ep := range e.servers {
		ep.sa = cloneSockaddr(ep.sa)
		l.servers = append(l.servers, ep)
	}
	if e.bind != nil {
		l.bind = cloneSockaddr(e.bind)
	}
	var err error
	if l.poll, err = netpoll.New(); err != nil {
		return nil, err
	}
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		l.closeFds()
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
		ev  uint32
	}{
		// Edge-triggered: an expiry is reported once and the timer need
		// not be read; arming it again resets it.
		{l.tfd, tagTimer, unix.EPOLLIN | unix.EPOLLET},
		{l.efd, tagWake, unix.EPOLLIN},
	} {
		ev := unix.EpollEvent{Events: t.ev, Fd: t.tag}
		if err := unix.EpollCtl(l.poll.FD(), unix.EPOLL_CTL_ADD, t.fd, &ev); err != nil {
			l.closeFds()
			return nil, fmt.Errorf("epoll add: %w", err)
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: tagSockets}
	if err := unix.EpollCtl(l.poll.FD(), unix.EPOLL_CTL_ADD, l.ep, &ev); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("epoll add: %w", err)
	}
	l.sockWake = true
	return l, nil
}

func (l *loop) closeFds() {
	for _, fd := range []int{l.ep, l.tfd, l.efd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if l.poll != nil {
		l.poll.Close()
	}
}

func (l *loop) now() int64 { return l.e.cfg.Now() }

// wake makes a parked loop run its commands and acknowledgements.
func (l *loop) wake() {
	l.signaled.Store(true)
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
	if err := netpoll.Run(l, l.pair); err != nil {
		l.e.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
	}
}

// step handles what is ready and what is due, again and again while work
// remains, and reports false when the loop may park until the timer, the
// eventfd or (while sockWake) a socket has something, true when the loop
// must stop. Every pass makes one epoll_wait that never blocks.
func (l *loop) step() (stop bool) {
	for {
		if l.signaled.Swap(false) {
			var b [8]byte
			netpoll.Read(l.efd, b[:])
			l.runCommands()
		}
		// Fires first: answers waiting since the last wake-up are timed
		// by the kernel and lose nothing by being read after them.
		l.fireDue(l.now())
		n, err := netpoll.Poll(l.ep, l.events)
		if err != nil && err != unix.EINTR {
			l.e.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
			return true
		}
		now := l.now()
		l.more = false
		again := l.again
		l.again, l.againNext = l.againNext[:0], again
		if n > 0 || len(again) > 0 {
			// Receive timestamps are on the local wall clock.
			off := now - time.Now().UnixNano()
			for _, ev := range l.events[:n] {
				l.onEvent(ev, now, off)
			}
			for _, a := range again {
				if c := &l.conns[a.idx]; c.fd >= 0 && c.gen == a.gen {
					l.read(int(a.idx), now, off, a.hup)
				}
			}
			now = l.now()
		}
		l.tick(now)
		if l.quit {
			return true
		}
		if n == len(l.events) || l.more || err != nil {
			continue // the set may hold more than one wait returned
		}
		now = l.now()
		d := l.deadline(now)
		if d <= now {
			continue
		}
		// Its runner parks it (park), with a merged guest's.
		l.due = l.onGrid(d)
		return false
	}
}

// park arms the timer for d, when the goroutine running this loop (and
// maybe its guest) next wakes, and says whether readable sockets must wake
// it before then: within a grid step the timer wakes it anyway, and answers
// arriving meanwhile are read then, not each on a wake-up of its own.
// Switching back on reports sockets already readable. It reports false
// when the loop must stop.
func (l *loop) park(d int64, timer bool) bool {
	if timer {
		if d < 0 {
			// A merged guest's: its host's timer wakes for both.
			if err := netpoll.TimerSet(l.tfd, 0); err != nil {
				l.e.log.Error("timerfd", "err", err)
			}
			l.armed = 0
		} else {
			l.arm(d)
		}
	}
	_, soon := l.withinStep(d)
	if err := l.setSockWake(!soon); err != nil {
		l.e.log.Error("epoll ctl failed; loop stops", "loop", l.id, "err", err)
		return false
	}
	return true
}

// withinStep says whether d is at most one grid step away (left: how far),
// when the loop's own wake-up, by its timer or a nap, comes soon enough
// for the answers that arrive meanwhile: its sockets need not wake it.
func (l *loop) withinStep(d int64) (left int64, soon bool) {
	g := int64(l.e.cfg.WakeGrid)
	left = d - l.now()
	return left, d >= 0 && g > 0 && left <= g
}

// setSockWake makes the sockets' set, a member of the set the loop parks
// on, report readiness there or not. It is modified, never removed and
// added again: adding an epoll set to another walks every socket in it.
func (l *loop) setSockWake(on bool) error {
	if on == l.sockWake {
		return nil
	}
	if err := l.poll.SetMember(l.ep, tagSockets, on); err != nil {
		return err
	}
	l.sockWake = on
	return nil
}

// onGrid is the first step of the loop's wake grid at or after d. The grid
// is offset per loop so that loops do not all wake at once.
func (l *loop) onGrid(d int64) int64 {
	if g := int64(l.e.cfg.WakeGrid); g > 0 {
		off := (l.e.gridOff + g*int64(netpoll.GridSlot(l.id, l.pair))/int64(l.e.cfg.Loops)) % g
		d = (d-off+g-1)/g*g + off
	}
	return d
}

// arm sets the timer for d, unless it is set for that already.
func (l *loop) arm(d int64) {
	now := l.now()
	if l.armed == d && d > now {
		return
	}
	if err := netpoll.TimerSet(l.tfd, max(d-now, 1)); err != nil {
		l.e.log.Error("timerfd", "err", err)
		return
	}
	l.armed = d
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
	if len(acks) > 0 {
		l.cgen++
	}
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
func (l *loop) deadline(now int64) int64 {
	d := (l.wins.base + 1) * int64(time.Second)
	if l.sweeping(now) {
		// Only then: an idle loop wakes once a second, not ten times.
		d = min(d, l.nextSweep)
	}
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
// The clock is read once per few fires: each write takes microseconds.
func (l *loop) fireDue(now int64) {
	for n := 0; n < maxBatch; n++ {
		f, ok := l.pc.peek(l.owned, now)
		if !ok || f.At > now {
			return
		}
		l.pc.cur.Next()
		l.fire(f, now)
		if n%16 == 15 {
			now = l.now()
		}
	}
}

func (l *loop) fire(f schedule.Fire, now int64) {
	i, ok := l.find(f.UID)
	if !ok {
		return // a plan user this agent does not hold
	}
	c := &l.conns[i]
	wa := l.wins.at(f.At)
	w := &wa.c
	w.Fires++
	switch {
	case c.state != stUp:
		w.Missed++
		return
	case c.skipLeft > 0:
		c.skipLeft--
		c.u.Skipped++
		l.cgen++
		w.Skipped++
		return
	}
	if int(c.plen) >= l.e.cfg.MaxPending {
		w.Missed++
		l.closeConn(i, now, whyOverflow)
		return
	}
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
	l.cgen++
	l.expect(i, c.gen, f.At)
	w.Sent++
	recordMicros(wa.late, now-f.At)
}

// expect queues the timeout of a SHAKE conn i (of generation gen) sent
// for its fire at at.
func (l *loop) expect(i int, gen uint32, at int64) {
	if at < l.lastAt {
		// Out of order (a newer plan took over): until everything queued
		// before it has expired, the sweep also walks the connections.
		l.scanAll = max(l.scanAll, l.lastAt+int64(l.e.cfg.Timeout)+int64(sweepEvery))
	}
	l.lastAt = max(l.lastAt, at)
	l.expiries.push(expiry{at: at, idx: int32(i), gen: gen})
}

func (l *loop) write(c *conn, f *wire.Frame) error {
	l.wbuf = wire.Append(l.wbuf[:0], f)
	// send(2), not write(2): on a socket it skips the file layer.
	n, err := netpoll.Send(int(c.fd), l.wbuf)
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

// find is the index of uid in conns. conns holds every uid of owned, in
// order, so that is the uid's rank in the owned ranges, found by a search
// over the ranges: a few hundred bytes for thousands of users (one range a
// block of blockLen), where a search over the users' uids, or over the
// conns, was a cache miss a probe, most of a fire's own cost.
func (l *loop) find(uid uint32) (int, bool) {
	rs := l.owned
	i, j := 0, len(rs)
	for i < j { // the first range that ends after uid
		h := int(uint(i+j) >> 1)
		if rs[h].Hi <= uid {
			i = h + 1
		} else {
			j = h
		}
	}
	if i == len(rs) || uid < rs[i].Lo {
		return 0, false
	}
	return int(l.firsts[i]) + int(uid-rs[i].Lo), true
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
			l.reopen[t.uid] = append(l.reopen[t.uid], t.env)
			continue
		}
		fr := wire.Open(uint64(now/int64(time.Second)), c.uid, t.env)
		if err := l.write(c, &fr); err != nil {
			w.OpenMissed++
			if err == errBlocked {
				l.opensDue.Push(now+l.openDelay()+int64(time.Millisecond), t)
			} else {
				l.reopen[t.uid] = append(l.reopen[t.uid], t.env)
				l.closeConn(i, now, whyClosed)
			}
			continue
		}
		c.u.OpenSent++
		l.cgen++
		w.OpenSent++
		l.opens[openKey(t)] = at
	}
}

// sweep counts SHAKEs past the timeout and fails dials and logins that
// take too long. Its work is proportional to the SHAKEs that expire and to
// the connections being dialed, not to every connection held.
func (l *loop) sweep(now int64) {
	to := int64(l.e.cfg.Timeout)
	for {
		x, ok := l.expiries.front()
		if !ok || x.at+to > now {
			break
		}
		l.expiries.pop()
		if int(x.idx) < len(l.conns) {
			if c := &l.conns[x.idx]; c.gen == x.gen && c.state == stUp {
				l.expire(c, now, to)
			}
		}
	}
	if l.expiries.len() == 0 {
		l.lastAt = 0
	}
	scanAll := now < l.scanAll
	if !scanAll && l.connecting == 0 {
		return
	}
	for i := range l.conns {
		c := &l.conns[i]
		switch c.state {
		case stConnecting, stLoggingIn:
			if now-c.since > to {
				l.closeConn(i, now, whyFailed)
			}
		case stUp:
			if scanAll {
				l.expire(c, now, to)
			}
		}
	}
}

// sweeping says whether sweep has anything to look at: SHAKEs awaiting an
// answer, dials or logins in progress, or connections to walk.
func (l *loop) sweeping(now int64) bool {
	return l.expiries.len() > 0 || l.connecting > 0 || now < l.scanAll
}

// expire counts c's pending SHAKEs that are past the timeout.
func (l *loop) expire(c *conn, now, to int64) {
	for c.pexp < c.plen && c.pending[(int(c.phead)+int(c.pexp))%maxPendingCap]+to <= now {
		c.pexp++
		c.u.Unanswered++
		l.cgen++
		l.wins.at(now).c.Unanswered++
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
	if len(acks) == 0 {
		// Connection events only: no counter waits for them, no wake-up.
		l.e.journal.AppendAsync(l.e.journalDone, l.recs...)
	} else {
		l.e.journal.AppendAsync(func(err error) { l.postAcks(acks, err) }, l.recs...)
	}
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
	s.connecting = l.connecting
	return s
}

func (l *loop) openDelay() int64 {
	lo, hi := int64(l.e.cfg.OpenDelayMin), int64(l.e.cfg.OpenDelayMax)
	if hi <= lo {
		return lo
	}
	return lo + rand.Int64N(hi-lo)
}
