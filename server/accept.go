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
		fd, err := detach(nc)
		if err != nil {
			s.log.Warn("cannot take over an accepted connection; closed", "remote", nc.RemoteAddr(), "err", err)
			continue
		}
		s.admit(fd)
	}
}

// acceptBackoff waits before accepting again after running out of
// descriptors or similar, as net/http does, instead of giving up on every
// client. It returns false on Close.
func (s *Server) acceptBackoff(backoff *time.Duration, err error) bool {
	*backoff = min(max(2**backoff, 5*time.Millisecond), time.Second)
	s.log.Warn("accept failed; retrying", "err", err, "in", *backoff)
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
