package server

import (
	"context"
	"log/slog"
)

// deadlineQueue holds read deadlines in the order they were set. Each
// kind of deadline is a fixed time after the event that set it, so the
// queue is sorted by deadline and a sweep only looks at its head. An entry
// names its connection by fd and id: a connection that moved to another
// loop or closed leaves a stale entry, skipped when it comes due.
type deadlineQueue struct {
	q    []deadlineEntry
	head int
}

type deadlineEntry struct {
	fd int32
	id uint32
	at int64 // loop ns
}

func (d *deadlineQueue) len() int { return len(d.q) - d.head }

func (d *deadlineQueue) push(c *conn, at int64) {
	if d.head > 0 && d.head >= len(d.q)/2 {
		n := copy(d.q, d.q[d.head:])
		d.q, d.head = d.q[:n], 0
	}
	d.q = append(d.q, deadlineEntry{fd: c.fd, id: c.id, at: at})
}

func (d *deadlineQueue) peek() deadlineEntry { return d.q[d.head] }

func (d *deadlineQueue) pop() {
	d.head++
	if d.head == len(d.q) {
		d.q, d.head = d.q[:0], 0
	}
}

// owned is the connection this loop owns on fd if its id is id, else nil.
func (l *loop) owned(fd int32, id uint32) *conn {
	if fd < 0 || int(fd) >= len(l.conns) {
		return nil
	}
	c := l.conns[fd]
	if c == nil || c.id != id || c.closed {
		return nil
	}
	return c
}

// sweepReads closes every connection past its read deadline: no LOGIN in
// time, or a frame left unfinished. It returns the next deadline (l.now's
// scale), or -1 when none is pending.
func (l *loop) sweepReads() int64 {
	next := int64(-1)
	for _, q := range []*deadlineQueue{&l.loginQ, &l.frameQ} {
		for q.len() > 0 {
			e := q.peek()
			if e.at > l.now {
				if next < 0 || e.at < next {
					next = e.at
				}
				break
			}
			q.pop()
			c := l.owned(e.fd, e.id)
			if c == nil || c.rdl == 0 || c.rdl > l.now {
				continue // logged in, finished its frame, or has a later entry
			}
			l.readTimeout(c)
		}
	}
	return next
}

// readTimeout closes c for missing its read deadline and counts it.
func (l *loop) readTimeout(c *conn) {
	s := l.srv
	why := "no LOGIN within the login timeout"
	if c.set == nil {
		s.loginTimeouts.Add(1)
	} else {
		s.frameTimeouts.Add(1)
		why = "frame left unfinished past the frame timeout"
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("read deadline passed, closing connection", "remote", remoteAddr(c.fd), "uid", c.uid, "why", why)
	}
	l.closeConn(c)
}

// evict closes the oldest connection this loop owns that has not logged
// in, if it has gone minEvictAge without doing so, making room for a new
// one at the connection limit; otherwise it says it found none.
func (l *loop) evict() {
	defer func() {
		l.evicting.Add(-1)
		l.srv.evicting.Add(-1)
		select {
		case l.srv.evicted1 <- struct{}{}:
		default:
		}
	}()
	minAge := min(int64(minEvictAge), int64(l.srv.cfg.LoginTimeout)/2)
	for l.loginQ.len() > 0 {
		e := l.loginQ.peek()
		c := l.owned(e.fd, e.id)
		if c == nil || c.set != nil || c.rdl != e.at {
			l.loginQ.pop() // logged in or gone
			continue
		}
		if accepted := e.at - int64(l.srv.cfg.LoginTimeout); l.now-accepted < minAge {
			break // the oldest is too young: none is old enough
		}
		l.loginQ.pop()
		l.srv.evicted.Add(1)
		if l.srv.log.Enabled(context.Background(), slog.LevelDebug) {
			l.srv.log.Debug("connection limit: closing a connection that has not logged in", "remote", remoteAddr(c.fd))
		}
		l.closeConn(c)
		return
	}
	l.srv.evictMiss.Store(true)
}
