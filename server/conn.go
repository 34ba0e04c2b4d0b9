package server

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

// readBuf is a connection's read buffer: room for one whole frame and the
// start of the next, instead of a 4 KiB bufio.Reader per connection.
const readBuf = 64

// conn is one client connection. Its reader goroutine decodes frames into
// its SET's inbox; only that SET's worker (and, while a write is blocked,
// the connection's own flusher goroutine) writes to it.
type conn struct {
	srv *Server
	nc  net.Conn
	rc  syscall.RawConn

	// Set by the reader before the first LOGIN is posted, read by the
	// worker after it receives that LOGIN (the inbox orders them).
	uid uint32
	set *set

	// Worker-owned.
	dirty bool  // in the worker's dirty list
	pos   int32 // index in set.list, -1 when not registered

	mu       sync.Mutex // guards out, flushing, closed
	out      []byte     // encoded frames not yet written
	flushing bool       // a flusher goroutine owns writing out
	closed   bool

	buf [readBuf]byte // reader-owned
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, pos: -1}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	return c
}

// readLoop decodes frames until the connection fails or breaks the
// protocol. A protocol error closes only this connection.
func (c *conn) readLoop() {
	defer c.readerDone()
	n := 0
	var f wire.Frame
	for {
		m, err := c.nc.Read(c.buf[n:])
		n += m
		off := 0
		for off < n {
			k, derr := wire.Decode(c.buf[off:n], &f)
			if derr == wire.ErrShort {
				break
			}
			if derr != nil {
				c.protocolError(derr)
				return
			}
			off += k
			if perr := c.handle(&f); perr != nil {
				c.protocolError(perr)
				return
			}
		}
		n = copy(c.buf[:], c.buf[off:n])
		if err != nil {
			return
		}
	}
}

// errBeforeLogin is the protocol error of any frame before a LOGIN.
var errBeforeLogin = errors.New("frame before LOGIN")

func (c *conn) handle(f *wire.Frame) error {
	s := c.srv
	if c.set == nil {
		if f.Cmd != wire.CmdLogin {
			return errBeforeLogin
		}
		s.logins.Add(1)
		uid := f.UID()
		if !s.cfg.Users.Contains(uid) {
			// No worker owns this connection yet: answer it here.
			b := wire.Append(make([]byte, 0, wire.MaxFrameLen), ptr(wire.LoginResp(now(), uid, wire.LoginRejected)))
			c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			c.nc.Write(b)
			return nil
		}
		c.uid = uid
		c.set = s.sets[uid%uint32(len(s.sets))]
		return c.post(msg{c: c, kind: msgLogin, a: uid})
	}
	switch f.Cmd {
	case wire.CmdLogin:
		s.logins.Add(1)
		return c.post(msg{c: c, kind: msgLogin, a: f.UID()})
	case wire.CmdShake:
		return c.post(msg{c: c, kind: msgShake, a: uint32(time.Now().Unix())})
	case wire.CmdOpen:
		return c.post(msg{c: c, kind: msgOpen, a: f.Env()})
	}
	// Server-to-client frames from a client are valid frames: tolerated.
	return nil
}

var errShutdown = errors.New("server closed")

// post hands a request to the connection's SET, waiting while its inbox is
// full, which pushes back on this client's TCP stream only.
func (c *conn) post(m msg) error {
	select {
	case c.set.inbox <- m:
		return nil
	case <-c.srv.quit:
		return errShutdown
	}
}

func (c *conn) protocolError(err error) {
	c.srv.protoErrs.Add(1)
	c.srv.log.Debug("protocol error, closing connection", "remote", c.nc.RemoteAddr(), "err", err)
}

func (c *conn) readerDone() {
	c.close()
	if c.set != nil {
		c.post(msg{c: c, kind: msgGone})
	}
	c.srv.forget(c)
}

// close closes the connection once; pending output is dropped.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.out = nil
	c.mu.Unlock()
	c.nc.Close()
}

// slowConsumer disconnects a client that does not read its responses.
func (c *conn) slowConsumer(why string) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	c.srv.slow.Add(1)
	c.srv.log.Debug("slow consumer disconnected", "uid", c.uid, "remote", c.nc.RemoteAddr(), "why", why)
	c.close()
}

// queue appends a frame to the connection's output; the worker flushes it
// at the end of its batch. Called by the owning worker only.
func (c *conn) queue(w *set, f *wire.Frame) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.out)+f.Len() > c.srv.cfg.MaxPending {
		c.mu.Unlock()
		c.slowConsumer("output backlog over the limit")
		return
	}
	c.out = wire.Append(c.out, f)
	c.mu.Unlock()
	if !c.dirty {
		c.dirty = true
		w.dirty = append(w.dirty, c)
	}
}

// maxIdleOut is the largest output buffer a connection keeps between
// flushes; bigger ones are released so idle connections stay small.
const maxIdleOut = 256

// flush writes queued output without ever blocking the worker: what the
// socket does not take at once is handed to a flusher goroutine that
// waits at most WriteTimeout. Called by the owning worker only.
func (c *conn) flush(w *set) {
	c.dirty = false
	c.mu.Lock()
	if c.flushing || c.closed || len(c.out) == 0 {
		c.mu.Unlock()
		return
	}
	// Not flushing: the worker is the only writer, so out is stable
	// until the worker appends again.
	buf := c.out
	c.mu.Unlock()
	n, err := w.writeNow(c, buf)
	if err != nil {
		c.close()
		return
	}
	c.mu.Lock()
	if n == len(buf) {
		if cap(c.out) > maxIdleOut {
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
		c.mu.Unlock()
		return
	}
	c.out = c.out[n:]
	c.flushing = true
	c.mu.Unlock()
	go c.flushLoop()
}

// flushLoop writes the backlog of a connection whose socket buffer is
// full. The client must drain it within WriteTimeout or is disconnected.
func (c *conn) flushLoop() {
	for {
		c.mu.Lock()
		if c.closed || len(c.out) == 0 {
			c.flushing = false
			if !c.closed && cap(c.out) > maxIdleOut {
				c.out = nil
			}
			c.mu.Unlock()
			return
		}
		buf := c.out
		c.mu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		n, err := c.nc.Write(buf)
		c.mu.Lock()
		if !c.closed {
			c.out = c.out[n:]
		}
		c.mu.Unlock()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.slowConsumer("write deadline exceeded")
			}
			c.close()
			c.mu.Lock()
			c.flushing = false
			c.mu.Unlock()
			return
		}
	}
}

func ptr[T any](v T) *T { return &v }

// now is the wire timestamp: Unix seconds.
func now() uint64 { return uint64(time.Now().Unix()) }
