package agents

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// endpoint is a resolved server address.
type endpoint struct {
	addr   string // as given, journaled as "srv"
	family int
	sa     unix.Sockaddr
}

func resolve(addr string) (endpoint, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("resolve server %q: %w", addr, err)
	}
	fam, sa := sockaddr(ta.IP, ta.Port)
	return endpoint{addr: addr, family: fam, sa: sa}, nil
}

// cloneSockaddr copies sa: unix.Bind and unix.Connect encode into the
// Sockaddr itself, so each loop needs its own.
func cloneSockaddr(sa unix.Sockaddr) unix.Sockaddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		c := *a
		return &c
	case *unix.SockaddrInet6:
		c := *a
		return &c
	}
	return sa
}

func sockaddr(ip net.IP, port int) (int, unix.Sockaddr) {
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return unix.AF_INET, sa
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	return unix.AF_INET6, sa
}

// backoff is the delay before dial attempt number attempts+1: doubling
// from BackoffMin to BackoffMax, jittered over its upper half so that users
// dropped together do not come back together.
func (e *Engine) backoff(attempts uint8) int64 {
	d := e.cfg.BackoffMin
	for i := uint8(0); i < attempts && d < e.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.BackoffMax)
	return int64(d/2) + rand.Int64N(int64(d/2)+1)
}

// queueDial puts conn i in the dial queue for at.
func (l *loop) queueDial(i int, at int64) {
	c := &l.conns[i]
	c.retryAt = at
	l.dials.Push(at, c.uid)
	if l.dialWake == 0 || at < l.dialWake {
		l.dialWake = at
	}
}

// dialDue dials the users whose retry time has come, as fast as the
// engine's connect rate allows; the limiter is shared by all loops.
func (l *loop) dialDue(now int64) {
	l.dialWake = 0
	for {
		at, ok := l.dials.Top()
		if !ok {
			return
		}
		if at > now {
			l.dialWake = at
			return
		}
		_, uid := l.dials.Pop()
		i, ok := l.find(uid)
		if !ok || l.conns[i].state != stIdle || l.conns[i].retryAt != at {
			continue // dropped, or queued again since
		}
		t := time.Now()
		r := l.e.lim.ReserveN(t, 1)
		if d := r.DelayFrom(t); d > 0 {
			r.CancelAt(t)
			l.dials.Push(at, uid)
			l.dialWake = now + int64(d)
			return
		}
		l.dial(i, now)
	}
}

// dial starts a non-blocking connect for conn i; the loop sends LOGIN when
// the socket becomes writable.
func (l *loop) dial(i int, now int64) {
	c := &l.conns[i]
	ep := &l.servers[c.srv]
	fd, err := unix.Socket(ep.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.dialFailed(i, now, err)
		return
	}
	if err := l.prepare(fd, ep); err != nil {
		unix.Close(fd)
		l.dialFailed(i, now, err)
		return
	}
	if err := unix.Connect(fd, ep.sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		l.dialFailed(i, now, err)
		return
	}
	c.fd = int32(fd)
	c.state = stConnecting
	c.since = now
	l.connecting++
	ev := unix.EpollEvent{Events: connEvents | unix.EPOLLOUT, Fd: int32(i), Pad: int32(c.gen)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.closeConn(i, now, whyFailed)
	}
}

func (l *loop) prepare(fd int, ep *endpoint) error {
	// Frames are tiny and latency is what is measured: no Nagle.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("nodelay: %w", err)
	}
	// Answers may be read a little after they arrive (see loop.sockWake):
	// the kernel's receive time is what latency is measured to.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	if l.bind == nil {
		return nil
	}
	// Choose the source port at connect time, per destination, instead of
	// at bind time from one shared pool: several source addresses then
	// give more than 64k connections per host.
	if ep.family == unix.AF_INET {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
	}
	if err := unix.Bind(fd, l.bind); err != nil {
		return fmt.Errorf("bind %s: %w", l.e.cfg.Bind, err)
	}
	return nil
}

func (l *loop) dialFailed(i int, now int64, err error) {
	c := &l.conns[i]
	if c.attempts == 0 {
		l.e.log.Debug("dial failed", "uid", c.uid, "err", err)
	}
	l.wins.at(now).c.ConnFailed++
	if c.attempts < 255 {
		c.attempts++
	}
	l.queueDial(i, now+l.e.backoff(c.attempts))
}

// connected handles a connecting socket turning writable: check the
// outcome and log in.
func (l *loop) connected(i int, now int64, events uint32) {
	c := &l.conns[i]
	soerr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || soerr != 0 || events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		l.closeConn(i, now, whyFailed)
		return
	}
	ev := unix.EpollEvent{Events: connEvents, Fd: int32(i), Pad: int32(c.gen)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		l.closeConn(i, now, whyFailed)
		return
	}
	fr := wire.Login(uint64(now/int64(time.Second)), c.uid)
	if err := l.write(c, &fr); err != nil {
		l.closeConn(i, now, whyFailed)
		return
	}
	c.state = stLoggingIn
}

// closeConn closes conn i's socket, counts its pending SHAKEs as lost and,
// unless the user is being dropped, queues a reconnect.
func (l *loop) closeConn(i int, now int64, why int) {
	c := &l.conns[i]
	if c.fd >= 0 {
		unix.Close(int(c.fd)) // also leaves the epoll set
	}
	w := &l.wins.at(now).c
	switch {
	case c.state == stUp:
		l.up--
		w.ConnClosed++
	case c.state != stIdle:
		l.connecting--
		w.ConnFailed++
	}
	switch why {
	case whyOverflow:
		w.Overflows++
	case whyProtocol:
		w.ProtocolErrors++
	}
	if c.plen > 0 {
		c.u.Lost += uint64(c.plen)
		w.Lost += uint64(c.plen)
		l.cgen++
	}
	wasUp := c.state == stUp
	if wasUp {
		// Journaled: verification excuses what this loss could have
		// swallowed, and nothing else.
		l.recs = append(l.recs, ledger.Record{Ev: ledger.EvDown, UID: c.uid, T: now / int64(time.Millisecond), Srv: c.u.Srv})
	}
	c.fd, c.state, c.rn, c.phead, c.plen, c.pexp = -1, stIdle, 0, 0, 0, 0
	c.gen++
	for k := range l.opens {
		if k.uid == c.uid {
			// In flight: sent again after the next login, as the answer
			// may be all that was lost.
			delete(l.opens, k)
			if why == whyDropped {
				delete(l.opening, k)
			} else {
				l.reopen[k.uid] = append(l.reopen[k.uid], k.env)
			}
		}
	}
	if why == whyDropped {
		for _, env := range l.reopen[c.uid] {
			delete(l.opening, openKey{c.uid, env})
		}
		delete(l.reopen, c.uid)
	}
	switch {
	case why == whyDropped:
	case wasUp && why != whyProtocol:
		// A server restart drops everyone at once: the jitter and the
		// shared connect rate spread the reconnects.
		c.attempts = 0
		l.queueDial(i, now+l.e.backoff(0))
	default:
		if c.attempts < 255 {
			c.attempts++
		}
		l.queueDial(i, now+l.e.backoff(c.attempts))
	}
}
