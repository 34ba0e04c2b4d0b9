package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server/wire"
)

// conn is one client connection: a non-blocking socket owned by one loop,
// which alone touches it, so it needs no lock. It is kept small (112
// bytes, and an output buffer of at most maxIdleOut between writes)
// because a server holds tens of thousands.
type conn struct {
	fd  int32
	id  uint32 // tells a stale epoll event from one for a reused fd
	uid uint32 // set on the first accepted LOGIN, then fixed
	pos int32  // index in set.list, -1 when not registered

	loop *loop // the owning loop; set by the loop handing c over, before it does
	set  *set  // nil until the first accepted LOGIN

	deadline int64 // while blocked: when the client is dropped (loop ns)
	// rdl is the read deadline (loop ns): before the first LOGIN, when the
	// client is dropped for not logging in; after it, while a frame is
	// unfinished, when it is dropped for not finishing it; 0 otherwise.
	rdl int64
	out []byte // encoded frames not yet written

	closed  bool
	dirty   bool  // in the loop's dirty list
	blocked bool  // the socket refused output: EPOLLOUT wanted
	rn      uint8 // bytes of a partial frame in rbuf

	rbuf [wire.MaxFrameLen]byte
}

// maxIdleOut is the largest output buffer a connection keeps between
// writes; bigger ones are released so idle connections stay small.
const maxIdleOut = 256

// errBeforeLogin is the protocol error of any frame before a LOGIN.
var errBeforeLogin = errors.New("frame before LOGIN")

// onReadable reads what the socket holds and handles every whole frame.
// Epoll is edge-triggered: a read shorter than the buffer means the
// socket was drained (new data raises a new edge), so one read per
// request suffices. After a full read, or when the peer has shut down
// (hup: the end of the stream follows the data), the connection is read
// again on the next iteration, after the others have had their turn.
func (l *loop) onReadable(c *conn, hup bool) {
	k := copy(l.rbuf, c.rbuf[:c.rn])
	n, err := recv(c.fd, l.rbuf[k:])
	switch {
	case err == unix.EAGAIN:
		return
	case err == unix.EINTR:
		l.again = append(l.again, c)
		return
	case err != nil || n == 0:
		l.closeConn(c)
		return
	}
	c.rn = 0
	l.consume(c, l.rbuf[:k+n])
	// Answers are written at the end of the iteration, all connections'
	// back to back: the clients' wake-ups then cover several at once,
	// which measured cheaper than writing each right after its read.
	if (hup || k+n == len(l.rbuf)) && c.loop == l && !c.closed {
		l.again = append(l.again, c)
	}
}

// consume handles the whole frames of b, read from c, and keeps a
// trailing partial frame in c.rbuf. A protocol error closes only c.
func (l *loop) consume(c *conn, b []byte) {
	var f wire.Frame
	for len(b) > 0 {
		m, err := wire.Decode(b, &f)
		if err == wire.ErrShort {
			break
		}
		if err != nil {
			l.protocolError(c, err)
			return
		}
		b = b[m:]
		if err := l.frame(c, &f); err != nil {
			l.protocolError(c, err)
			return
		}
		if c.closed {
			return
		}
		if c.loop != l {
			// The first LOGIN moved c to its SET's loop, which carries on
			// with the rest, in order.
			c.loop.adopt(c, append([]byte(nil), b...))
			return
		}
	}
	c.rn = uint8(copy(c.rbuf[:], b))
	if c.set != nil {
		switch {
		case c.rn == 0:
			c.rdl = 0
		case c.rdl == 0:
			c.rdl = l.now + int64(l.srv.cfg.FrameTimeout)
			l.frameQ.push(c, c.rdl)
		}
	}
}

// frame handles one frame from c.
func (l *loop) frame(c *conn, f *wire.Frame) error {
	s := l.srv
	w := c.set
	if w == nil {
		if f.Cmd != wire.CmdLogin {
			return errBeforeLogin
		}
		s.logins.Add(1)
		uid := f.UID()
		if !s.cfg.Users.Contains(uid) {
			l.queue(c, ptr(wire.LoginResp(l.nowSec, uid, wire.LoginRejected)))
			return nil
		}
		c.uid = uid
		c.set = s.sets[uid%uint32(len(s.sets))]
		c.rdl = 0
		l.unlogged.Add(-1)
		if c.set.loop != l {
			l.disown(c)
			if !c.closed {
				c.loop = c.set.loop
			}
			return nil
		}
		c.set.login(c, uid)
		l.touch(c.set)
		return nil
	}
	switch f.Cmd {
	case wire.CmdLogin:
		s.logins.Add(1)
		w.login(c, f.UID())
	case wire.CmdShake:
		w.shake(c, uint32(l.nowSec))
	case wire.CmdOpen:
		w.open(c, f.Env())
	default:
		// Server-to-client frames from a client are valid frames: tolerated.
		return nil
	}
	l.touch(w)
	return nil
}

// disown gives c up without closing it, so that another loop can own
// it. Output not yet written (only a rejected LOGIN's answer can come
// before the first accepted one) is written first; if the socket is
// blocked, the new owner waits for EPOLLOUT instead.
func (l *loop) disown(c *conn) {
	if c.dirty {
		c.dirty = false
		for i, d := range l.dirty {
			if d == c {
				l.dirty = append(l.dirty[:i], l.dirty[i+1:]...)
				break
			}
		}
		l.flush(c)
	}
	if c.blocked {
		for i, b := range l.blocked {
			if b == c {
				l.blocked = append(l.blocked[:i], l.blocked[i+1:]...)
				break
			}
		}
	}
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	l.conns[c.fd] = nil
}

func (l *loop) protocolError(c *conn, err error) {
	l.srv.protoErrs.Add(1)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.Debug("protocol error, closing connection", "remote", remoteAddr(c.fd), "err", err)
	}
	l.closeConn(c)
}

// closeConn closes c once and takes it out of its SET; pending output is
// dropped. The owning loop only.
func (l *loop) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	c.out = nil
	if int(c.fd) < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
	}
	unix.Close(int(c.fd)) // also leaves the epoll set
	l.srv.open.Add(-1)
	if c.set != nil {
		c.set.gone(c)
	} else {
		l.unlogged.Add(-1)
	}
}

// slowConsumer disconnects a client that does not read its responses.
func (l *loop) slowConsumer(c *conn, why string) {
	if c.closed {
		return
	}
	l.srv.slow.Add(1)
	if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		l.srv.log.Debug("slow consumer disconnected", "uid", c.uid, "remote", remoteAddr(c.fd), "why", why)
	}
	l.closeConn(c)
}

// queue appends a frame to c's output, written at the end of the
// iteration. Output past MaxPending that the socket will not take at once
// marks a slow consumer.
func (l *loop) queue(c *conn, f *wire.Frame) {
	if c.closed {
		return
	}
	if len(c.out)+f.Len() > l.srv.cfg.MaxPending {
		l.flush(c)
		if c.closed {
			return
		}
		if len(c.out)+f.Len() > l.srv.cfg.MaxPending {
			l.slowConsumer(c, "output backlog over the limit")
			return
		}
	}
	c.out = wire.Append(c.out, f)
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

// flush writes c's output without waiting. What the socket does not take
// stays queued until EPOLLOUT; the client must make room within
// WriteTimeout or is disconnected.
func (l *loop) flush(c *conn) {
	if c.closed || c.blocked || len(c.out) == 0 {
		return
	}
	n, err := write(c.fd, c.out)
	if err != nil {
		l.closeConn(c)
		return
	}
	if l.wrote(c, n) {
		return
	}
	c.blocked = true
	c.deadline = l.now + int64(l.srv.cfg.WriteTimeout)
	ev := unix.EpollEvent{Events: connEvents | unix.EPOLLOUT, Fd: c.fd, Pad: int32(c.id)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		l.closeConn(c)
		return
	}
	l.blocked = append(l.blocked, c)
}

// onWritable writes more of a blocked connection's output; progress
// extends its deadline.
func (l *loop) onWritable(c *conn) {
	n, err := write(c.fd, c.out)
	if err != nil {
		l.closeConn(c)
		return
	}
	if n > 0 {
		c.deadline = l.now + int64(l.srv.cfg.WriteTimeout)
	}
	if !l.wrote(c, n) {
		return
	}
	c.blocked = false
	ev := unix.EpollEvent{Events: connEvents, Fd: c.fd, Pad: int32(c.id)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		l.closeConn(c)
	}
}

// wrote drops the first n bytes of c's output and reports whether it is
// now empty.
func (l *loop) wrote(c *conn, n int) bool {
	if n == len(c.out) {
		if cap(c.out) > maxIdleOut {
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
		return true
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	return false
}

// write writes b to a non-blocking socket: a full socket buffer is not an
// error, just 0 bytes written. It is send(2), not write(2), and raw (see
// internal/netpoll).
func write(fd int32, b []byte) (int, error) {
	for {
		n, err := netpoll.Send(int(fd), b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, err
	}
}

// recv reads from a non-blocking socket with recv(2), raw.
func recv(fd int32, b []byte) (int, error) {
	return netpoll.Recv(int(fd), b)
}

// remoteAddr is the peer of a socket, for logs.
func remoteAddr(fd int32) string {
	sa, err := unix.Getpeername(int(fd))
	if err != nil {
		return "?"
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	return "?"
}

func ptr[T any](v T) *T { return &v }

// now is the wire timestamp: Unix seconds.
func now() uint64 { return uint64(time.Now().Unix()) }
