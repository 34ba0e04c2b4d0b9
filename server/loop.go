package server

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/netpoll"
)

// connEvents is a connection's epoll interest while its output flows.
// EPOLLRDHUP tells a read that drained the data that the peer's FIN came
// with it: edge-triggered, no later event would say so.
const connEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// tagWake and tagTimer are the epoll tags of a loop's eventfd and
// timerfd; a connection's event carries its fd and, in Pad, its id.
const (
	tagWake    int32 = -1
	tagTimer   int32 = -2
	tagSockets int32 = -3 // the connections' epoll set, inside the one the loop parks on
)

// Sizes of a loop's buffers.
const (
	// loopReadBuf bounds what one read takes from one connection: at most
	// 1,024 SHAKEs, whose answers (28 KiB) stay under DefaultMaxPending,
	// so a client that pipelines is answered in slices, not cut off.
	loopReadBuf = 16 << 10
	loopEvents  = 256
)

// cmdKind says what a command asks of a loop.
type cmdKind uint8

const (
	cmdAdopt  cmdKind = iota // own c; rest is what was read after its first LOGIN (nil for a new connection)
	cmdNotify                // push sent envelope a to uid b of SET w
	cmdEvict                 // close the oldest connection that has not logged in, to make room
)

// command is work another goroutine hands to a loop.
type command struct {
	kind cmdKind
	c    *conn
	w    *set
	a, b uint32
	rest []byte
}

// loop is one event loop: an edge-triggered epoll set over the sockets of
// the connections it owns, and the worker of the SETs whose index is its
// own modulo the loop count. A logged-in connection lives on its SET's
// loop, so a request is read, answered and written on one goroutine: no
// reader goroutine, no inbox hand-off, one read and one write per
// connection per wake-up.
type loop struct {
	srv  *Server
	id   int
	poll *netpoll.Poller // the set the loop parks on: efd, tfd and, while sockWake, ep
	ep   int             // the connections' epoll set
	efd  int
	tfd  int    // wakes the loop at the next write deadline or grid step
	sets []*set // the SETs this loop works; fixed after New

	woken atomic.Bool // an eventfd wake-up is pending
	// unlogged counts the connections this loop owns that have not logged
	// in; the accepting goroutine reads it to pick a loop to evict from.
	unlogged atomic.Int64
	evicting atomic.Int64 // evictions posted and not yet done

	mu      sync.Mutex // guards cmds, stopped
	cmds    []command
	stopped bool // the loop has exited; post fails from now on

	// Loop-owned.
	conns   []*conn       // by fd; nil where this loop owns no connection
	dirty   []*conn       // connections with output to write this iteration
	touched []*set        // SETs that handled requests this iteration
	blocked []*conn       // connections waiting for EPOLLOUT, for the write deadline
	again   []*conn       // connections to read again: the last read filled the buffer or the peer shut down
	loginQ  deadlineQueue // read deadlines of connections not logged in, oldest first
	frameQ  deadlineQueue // read deadlines of unfinished frames, oldest first
	agained []*conn       // again's spare
	events  []unix.EpollEvent
	rbuf    []byte
	spare   []command
	now     int64  // monotonic ns since the server started, per iteration
	nowSec  uint64 // Unix seconds, per iteration: wire timestamps and arrivals
	armed   int64  // when tfd expires (l.now's scale); 0: not armed
	// sockWake says whether readiness of ep wakes the loop; off while the
	// loop waits for its next grid step.
	sockWake bool
	lastRead int64 // when an iteration last read requests (l.now's scale)
	pevents  []unix.EpollEvent

	// pair runs two loops on one goroutine while that has time to spare;
	// nil when this loop runs alone.
	pair *netpoll.Pair
}

// The netpoll.Loop of a loop. It arms its own timer (step), so a pair's
// host wakes for its guest's through the guest's poll set, a member of
// its own.
func (l *loop) Poller() *netpoll.Poller        { return l.poll }
func (l *loop) Step() bool                     { return l.step() }
func (l *loop) Due() int64                     { return -1 }
func (l *loop) Park(at int64, timer bool) bool { return true }
func (l *loop) Wake()                          { l.wake() }

// NapFor: never, a server waits for its sockets.
func (l *loop) NapFor(int64) time.Duration { return 0 }

func newLoop(s *Server, id int) (*loop, error) {
	l := &loop{srv: s, id: id, ep: -1, efd: -1, tfd: -1, sockWake: true,
		events: make([]unix.EpollEvent, loopEvents), pevents: make([]unix.EpollEvent, 8), rbuf: make([]byte, loopReadBuf)}
	var err error
	if l.poll, err = netpoll.New(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.cfg.WakeGrid == 0 {
		// Without a grid the sockets are never muted, so they go in the
		// set the loop parks on: a wake-up then costs one epoll_wait, not
		// two, and an arrival one epoll callback, not two.
		l.ep = l.poll.FD()
	} else if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("server: epoll: %w", err)
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("server: eventfd: %w", err)
	}
	if l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("server: timerfd: %w", err)
	}
	// The timerfd is edge-triggered and never read: re-arming it resets
	// its expirations, and each expiry is a new edge.
	for _, m := range []struct {
		fd     int
		events uint32
		tag    int32
	}{{l.efd, unix.EPOLLIN, tagWake}, {l.tfd, unix.EPOLLIN | unix.EPOLLET, tagTimer}, {l.ep, unix.EPOLLIN, tagSockets}} {
		if m.fd == l.poll.FD() {
			continue // one set: the sockets join it as they come
		}
		ev := unix.EpollEvent{Events: m.events, Fd: m.tag}
		if err := unix.EpollCtl(l.poll.FD(), unix.EPOLL_CTL_ADD, m.fd, &ev); err != nil {
			l.closeFds()
			return nil, fmt.Errorf("server: epoll add: %w", err)
		}
	}
	return l, nil
}

// closeFds closes the epoll, eventfd and timerfd descriptors. Only after
// the journal is closed: its commit callbacks wake the loop.
func (l *loop) closeFds() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.poll != nil && l.ep == l.poll.FD() {
		l.ep = -1 // the Poller's, closed with it
	}
	for _, fd := range []*int{&l.ep, &l.efd, &l.tfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if l.poll != nil {
		l.poll.Close()
		l.poll = nil
	}
}

// wake makes the loop's epoll_wait return; a wake-up already pending
// covers this one. It never blocks, so journal callbacks may call it.
func (l *loop) wake() {
	if l.woken.Swap(true) {
		return
	}
	one := [8]byte{1}
	unix.Write(l.efd, one[:])
}

// post hands a command to the loop. It returns false once the loop has
// stopped; the caller then disposes of what the command carried.
func (l *loop) post(cmd command) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.cmds = append(l.cmds, cmd)
	l.wake() // under mu, so that closeFds cannot close efd under it
	l.mu.Unlock()
	return true
}

// adopt hands a connection to l, closing it if l has stopped.
func (l *loop) adopt(c *conn, rest []byte) {
	if !l.post(command{kind: cmdAdopt, c: c, rest: rest}) {
		unix.Close(int(c.fd))
		l.srv.open.Add(-1)
	}
}

// tick reads the clock once for the iteration.
func (l *loop) tick() {
	t := time.Now()
	l.now = int64(t.Sub(l.srv.start))
	l.nowSec = uint64(t.Unix())
}

func (l *loop) run() {
	defer l.srv.wg.Done()
	defer l.stop()
	if err := netpoll.Run(l, l.pair); err != nil {
		l.srv.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
	}
}

// step runs iterations until the epoll sets have nothing more to report,
// then returns false to park the loop until they have; true stops the
// loop. It never blocks: a loop parked in the runtime's poller leaves its
// P idle, where one blocked in epoll_wait has sysmon hand its P to another
// thread at every wake-up (netpoll's doc).
func (l *loop) step() (stop bool) {
	single := l.ep == l.poll.FD()
	for {
		// The parked-on set's members: efd, tfd, ep and, in a pair's host,
		// the guest's set. Polled until fewer than a batch come back, for a
		// member left ready is not reported again.
		for m := len(l.pevents); !single && m == len(l.pevents); {
			var err error
			m, err = netpoll.Poll(l.poll.FD(), l.pevents)
			if err != nil && err != unix.EINTR {
				l.srv.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
				return true
			}
			for _, ev := range l.pevents[:m] {
				if l.onTag(ev.Fd) {
					return true
				}
			}
		}
		// The connections are read whatever woke the loop: being awake is
		// the cost, reading what is there is cheap.
		n, err := netpoll.Poll(l.ep, l.events)
		if err != nil && err != unix.EINTR {
			l.srv.log.Error("epoll wait failed; loop stops", "loop", l.id, "err", err)
			return true
		}
		l.tick()
		if len(l.again) > 0 {
			l.readAgain()
		}
		for _, ev := range l.events[:n] {
			if ev.Fd < 0 {
				if l.onTag(ev.Fd) {
					return true
				}
				continue
			}
			l.onEvent(ev)
		}
		l.endIteration()
		deadline := int64(-1)
		if len(l.blocked) > 0 {
			deadline = l.sweepBlocked()
		}
		if l.loginQ.len() > 0 || l.frameQ.len() > 0 {
			if t := l.sweepReads(); t >= 0 && (deadline < 0 || t < deadline) {
				deadline = t
			}
		}
		// A full batch may leave events behind, and connections whose read
		// filled the buffer have data no new edge will announce.
		if n == len(l.events) || len(l.again) > 0 || err != nil {
			continue
		}
		// Requests arriving more often than every other grid step are
		// read on the grid's steps, not each on a wake-up of its own.
		hold := false
		if g := int64(l.srv.cfg.WakeGrid); g > 0 && n > 0 {
			hold = l.now-l.lastRead < 2*g
			l.lastRead = l.now
			if hold {
				if step := l.nextStep(g); deadline < 0 || step < deadline {
					deadline = step
				}
			}
		}
		if err := l.armFor(deadline); err != nil {
			l.srv.log.Error("timerfd failed; loop stops", "loop", l.id, "err", err)
			return true
		}
		if err := l.setSockWake(!hold); err != nil {
			l.srv.log.Error("epoll ctl failed; loop stops", "loop", l.id, "err", err)
			return true
		}
		return false
	}
}

// onTag handles the event of the loop's eventfd or timerfd and reports
// whether the loop must stop.
func (l *loop) onTag(tag int32) (stop bool) {
	switch tag {
	case tagWake:
		var b [8]byte
		netpoll.Read(l.efd, b[:])
		l.woken.Store(false)
		if l.srv.closing.Load() {
			return true
		}
		l.runCommands()
	case tagTimer:
		l.armed = 0 // expired; re-armed when needed
	}
	return false
}

// nextStep is the loop's next grid step after now; the loops' grids are
// offset so that they do not all wake at once.
func (l *loop) nextStep(g int64) int64 {
	off := g * int64(netpoll.GridSlot(l.id, l.pair)) / int64(len(l.srv.loops))
	return ((l.now-off)/g+1)*g + off
}

// setSockWake makes readiness of the connections wake the loop, or not.
// Switched back on, readiness already there wakes it at once.
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

// armFor makes tfd expire by deadline (l.now's scale; < 0: none), unless
// it is set to expire by then already.
func (l *loop) armFor(deadline int64) error {
	if deadline < 0 || l.armed > l.now && l.armed <= deadline {
		return nil
	}
	l.armed = deadline
	return netpoll.TimerSet(l.tfd, max(deadline-l.now, 1))
}

// onEvent handles readiness of the connection on fd ev.Fd.
func (l *loop) onEvent(ev unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd < 0 || fd >= len(l.conns) {
		return
	}
	c := l.conns[fd]
	if c == nil || c.id != uint32(ev.Pad) {
		return // closed earlier in this batch, or moved to another loop
	}
	if ev.Events&unix.EPOLLOUT != 0 {
		l.onWritable(c)
		if c.closed {
			return
		}
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.onReadable(c, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// readAgain reads once more from each connection whose last read filled
// the buffer: with edge-triggered epoll no new event comes for data
// already queued.
func (l *loop) readAgain() {
	cs := l.again
	l.again = l.agained[:0]
	for _, c := range cs {
		// c.loop first: a connection moved away is another loop's now.
		if c.loop == l && !c.closed {
			l.onReadable(c, false)
		}
	}
	clear(cs)
	l.agained = cs[:0]
}

func (l *loop) runCommands() {
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = l.spare[:0]
	l.mu.Unlock()
	for i := range cmds {
		cmd := &cmds[i]
		switch cmd.kind {
		case cmdAdopt:
			l.own(cmd.c, cmd.rest)
		case cmdNotify:
			cmd.w.notify(cmd.a, cmd.b)
			l.touch(cmd.w)
		case cmdEvict:
			l.evict()
		}
	}
	clear(cmds)
	l.spare = cmds[:0]
}

// own registers c with this loop (c.loop is already l). A connection
// moved here by its first LOGIN carries that LOGIN (c.uid) and what was
// read after it.
func (l *loop) own(c *conn, rest []byte) {
	fd := int(c.fd)
	ev := unix.EpollEvent{Events: connEvents, Fd: c.fd, Pad: int32(c.id)}
	if c.blocked {
		ev.Events |= unix.EPOLLOUT
	}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.srv.log.Warn("epoll add failed; closing connection", "err", err)
		unix.Close(fd)
		l.srv.open.Add(-1)
		return
	}
	if fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, fd+1-len(l.conns)+len(l.conns)/4)...)
	}
	l.conns[fd] = c
	if c.blocked {
		l.blocked = append(l.blocked, c)
	}
	if c.set == nil {
		// A new connection: nothing read yet, LOGIN due within LoginTimeout.
		l.unlogged.Add(1)
		c.rdl = l.now + int64(l.srv.cfg.LoginTimeout)
		l.loginQ.push(c, c.rdl)
		return
	}
	c.set.login(c, c.uid)
	l.touch(c.set)
	if len(rest) > 0 {
		l.consume(c, rest)
	}
}

// touch marks w as having work to finish at the end of the iteration.
func (l *loop) touch(w *set) {
	if !w.touched {
		w.touched = true
		l.touched = append(l.touched, w)
	}
}

// endIteration journals each touched SET's records in one group-committed
// append, moves every durable response to its connection's output, and
// writes each connection's output with one write.
func (l *loop) endIteration() {
	for _, w := range l.touched {
		w.touched = false
		w.endBatch()
	}
	clear(l.touched)
	l.touched = l.touched[:0]
	for _, w := range l.sets {
		if w.head < len(w.held) {
			w.release()
		}
	}
	for _, c := range l.dirty {
		c.dirty = false
		l.flush(c)
	}
	clear(l.dirty)
	l.dirty = l.dirty[:0]
}

// sweepBlocked disconnects every blocked connection past its write
// deadline and returns the next deadline (l.now's scale), or -1.
func (l *loop) sweepBlocked() int64 {
	next := int64(-1)
	keep := l.blocked[:0]
	for _, c := range l.blocked {
		if c.closed || !c.blocked {
			continue
		}
		if c.deadline <= l.now {
			l.slowConsumer(c, "write deadline exceeded")
			continue
		}
		if next < 0 || c.deadline < next {
			next = c.deadline
		}
		keep = append(keep, c)
	}
	clear(l.blocked[len(keep):])
	l.blocked = keep
	return next
}

// stop closes every connection the loop owns or was handed, and makes
// later posts fail.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopped = true
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, cmd := range cmds {
		if cmd.kind == cmdAdopt {
			unix.Close(int(cmd.c.fd))
			l.srv.open.Add(-1)
		}
	}
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c)
		}
	}
}
