package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Serve accepts wire-protocol connections on ln until Close. It may be
// called for several listeners. It returns nil after Close.
//
// Go's net package accepts (and sets TCP_NODELAY and keep-alive as for
// any Go server); the server then takes over each socket's descriptor
// and a loop owns it. Listeners whose connections have no descriptor
// cannot be served.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	return s.accept(ln)
}

// accept accepts through ln.Accept and takes over each connection's
// descriptor.
func (s *Server) accept(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				s.refuseAtFileLimit(ln, err)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				if !s.acceptBackoff(&backoff, err) {
					return nil
				}
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		if !s.room() {
			nc.Close()
			s.refuse(nc.RemoteAddr(), fmt.Sprintf("at the connection limit (%d)", s.cfg.MaxConns))
			continue
		}
		fd, err := detach(nc)
		if err != nil {
			s.open.Add(-1)
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				s.refuse(nc.RemoteAddr(), "out of file descriptors: "+err.Error())
				continue
			}
			s.log.Warn("cannot take over an accepted connection; closed", "remote", nc.RemoteAddr(), "err", err)
			continue
		}
		s.admit(fd)
	}
}

// minEvictAge is how long a connection must have gone without logging in
// before it may be closed to make room: a real client's LOGIN follows its
// connect at once, and one that is merely waiting in a busy loop's socket
// buffer must not be taken for a connection that never logs in.
const minEvictAge = 250 * time.Millisecond

// room reserves a place for one more connection, and reports whether
// there is one. At the limit, a connection that has not logged in for
// minEvictAge (the oldest on the loop holding the most) is closed to make
// room, so that connections which never log in cannot lock real clients
// out; while that is under way, or the connections not logged in are all
// younger, accepting waits (new connections wait in the listen queue).
// Only when every connection held has logged in is the new one refused.
func (s *Server) room() bool {
	for {
		if s.open.Add(1) <= int64(s.cfg.MaxConns) {
			return true
		}
		s.open.Add(-1)
		wait := 100 * time.Millisecond
		switch {
		case s.evictMiss.Swap(false):
			// Nothing old enough last time: look again shortly.
			wait = 25 * time.Millisecond
		case s.evicting.Load() > 0:
			// An eviction is under way: wait for it.
		case !s.evictOne():
			return false // every connection held has logged in
		}
		t := time.NewTimer(wait)
		select {
		case <-s.evicted1:
		case <-t.C:
		case <-s.quit:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

func (s *Server) evictTarget() *loop {
	var most *loop
	var m int64
	for _, l := range s.loops {
		if u := l.unlogged.Load() - l.evicting.Load(); u > m {
			most, m = l, u
		}
	}
	return most
}

// evictOne asks the loop holding the most connections that have not
// logged in to close its oldest; false when there is none.
func (s *Server) evictOne() bool {
	l := s.evictTarget()
	if l == nil {
		return false
	}
	l.evicting.Add(1)
	s.evicting.Add(1)
	if !l.post(command{kind: cmdEvict}) {
		l.evicting.Add(-1)
		s.evicting.Add(-1)
		return false
	}
	return true
}

// refuse counts a connection closed at once for want of room, and says so
// in the log at most once a second.
func (s *Server) refuse(remote net.Addr, why string) {
	n := s.refused.Add(1)
	s.refuseLog.Do(func() {
		s.log.Warn("refusing new connections", "why", why, "open", s.open.Load(), "max_connections", s.cfg.MaxConns,
			"refused_total", n, "last_remote", remote.String())
	})
}

// refuseAtFileLimit takes the connection that Accept could not, using a
// descriptor kept spare for this, closes it at once and counts it: the
// client learns now, not after its own timeout, and the listener's queue
// does not fill with connections nobody will serve.
func (s *Server) refuseAtFileLimit(ln net.Listener, err error) {
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	if s.spare < 0 {
		// No spare left (another listener took it): back off a little.
		var d time.Duration
		s.acceptBackoff(&d, err)
		return
	}
	unix.Close(s.spare)
	s.spare = -1
	nc, aerr := ln.Accept()
	if aerr == nil {
		nc.Close()
		s.refuse(nc.RemoteAddr(), "out of file descriptors: "+err.Error())
	}
	s.spare, _ = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// acceptBackoff waits before accepting again after running out of
// descriptors or similar, as net/http does, instead of giving up on every
// client. It returns false on Close.
func (s *Server) acceptBackoff(backoff *time.Duration, err error) bool {
	*backoff = min(max(2**backoff, 5*time.Millisecond), time.Second)
	s.acceptLog.Do(func() { s.log.Warn("accept failed; retrying", "err", err, "in", *backoff) })
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

// detach returns a non-blocking duplicate of nc's descriptor and closes
// nc.
func detach(nc net.Conn) (int, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(f uintptr) {
		fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// admit hands an accepted socket to a loop, round-robin; its first
// LOGIN moves it to its SET's loop.
func (s *Server) admit(fd int) {
	id := s.nextID.Add(1)
	l := s.loops[int(id)%len(s.loops)]
	c := &conn{fd: int32(fd), id: id, pos: -1, loop: l}
	l.adopt(c, nil)
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
