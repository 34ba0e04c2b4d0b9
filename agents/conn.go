package agents

import (
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// Connection states.
const (
	stIdle       uint8 = iota // not connected; queued for a dial if wanted
	stConnecting              // non-blocking connect in progress
	stLoggingIn               // LOGIN written, awaiting LOGIN_RESP
	stUp                      // logged in
)

// conn is one held user: its socket, its protocol state and its counters.
// It lives by value in its loop's slice and is touched only by that loop,
// so it needs no lock; it is kept small because an agent holds tens of
// thousands of them (320 bytes with the counters).
//
// Its fields are laid out for a SHAKE's two touches, the fire and the
// answer, which find the connection cold (the kernel's send path and the
// server run between them): with conns 64-byte aligned, both touch two
// cache lines, the first (state, the pending ring's first slot) and the
// fourth (the SHAKE counters), where they had touched four or five
// (TestConnLayout holds it).
type conn struct {
	uid   uint32
	fd    int32  // -1 when closed
	gen   uint32 // bumped on every close, so stale epoll events are ignored
	srv   uint16 // index into the engine's servers
	state uint8

	attempts  uint8 // failed dials in a row, for the back-off
	skipLeft  uint8 // fires still to skip after an overload
	skipLevel uint8 // next skip run length is 1<<skipLevel

	rn                uint8  // bytes of a partial frame in rbuf
	phead, plen, pexp uint8  // pending ring: head, length, expired prefix
	awaiting          uint16 // grants received, not yet durable

	// Intended times of SHAKEs awaiting an answer, oldest first. The ring
	// starts again at slot 0 whenever it empties: with one SHAKE in flight,
	// the usual case, that slot shares the first line with the state.
	pending [maxPendingCap]int64

	since   int64 // when the current dial began (coordinator ns)
	retryAt int64 // next dial no earlier than this

	u ledger.ClientUser // Shake, Got, None and Overloaded on one line

	rbuf [wire.MaxFrameLen]byte
	_    [8]byte // to 320 bytes, five lines
}

func (c *conn) pushPending(at int64) {
	c.pending[(int(c.phead)+int(c.plen))%maxPendingCap] = at
	c.plen++
}

// popPending removes the oldest pending SHAKE and says whether it had
// already been counted unanswered.
func (c *conn) popPending() (at int64, expired bool) {
	at = c.pending[c.phead]
	c.phead = uint8((int(c.phead) + 1) % maxPendingCap)
	c.plen--
	if c.pexp > 0 {
		c.pexp--
		expired = true
	}
	if c.plen == 0 {
		c.phead = 0 // pexp is 0 too: it counts a prefix of the ring
	}
	return at, expired
}

// counters is the user's ClientUser with Pending filled in.
func (c *conn) counters() ledger.ClientUser {
	u := c.u
	u.Pending = uint64(c.plen) + uint64(c.awaiting)
	return u
}

// onEvent handles readiness of conn ev.Fd; off is the coordinator clock
// minus the local wall clock, for receive timestamps.
func (l *loop) onEvent(ev unix.EpollEvent, now, off int64) {
	i := int(ev.Fd)
	if i < 0 || i >= len(l.conns) {
		return
	}
	c := &l.conns[i]
	if c.fd < 0 || c.gen != uint32(ev.Pad) {
		return // closed (and maybe reopened) earlier in this batch
	}
	if c.state == stConnecting {
		l.connected(i, now, ev.Events)
		return
	}
	l.read(i, now, off, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
}

// read reads what the socket holds into the loop's shared buffer, behind
// the connection's partial frame, and handles every whole frame as of the
// time the kernel received the data (read may come up to a wake grid step
// later). hup: the peer hung up, or the socket failed; the read that finds
// it is queued once the data before it are read.
func (l *loop) read(i int, now, off int64, hup bool) {
	c := &l.conns[i]
	k := copy(l.rbuf, c.rbuf[:c.rn])
	n, rx, err := rawRecv(int(c.fd), l.rbuf[k:], l.oob[:])
	switch {
	case err == unix.EAGAIN:
		return
	case err == unix.EINTR:
		// Not seen on a non-blocking socket, but no edge would come back
		// for what it left.
		l.readLater(i, hup)
		return
	case err != nil || n == 0:
		why := whyClosed
		if c.state != stUp {
			why = whyFailed
		}
		l.closeConn(i, now, why)
		return
	}
	if k+n == len(l.rbuf) || hup {
		l.readLater(i, hup) // edge-triggered: what is left is not reported again
	}
	if rx != 0 {
		// Clamped: a clock stepped between the two readings must not
		// put an answer in the future, nor far in the past.
		now = max(min(rx+off, now), now-int64(time.Second))
	}
	b := l.rbuf[:k+n]
	gen := c.gen
	var f wire.Frame
	for len(b) > 0 {
		m, err := wire.Decode(b, &f)
		if err == wire.ErrShort {
			break
		}
		if err != nil {
			l.e.log.Debug("protocol error; closing", "uid", c.uid, "err", err)
			l.closeConn(i, now, whyProtocol)
			return
		}
		b = b[m:]
		l.frame(i, &f, now)
		if c.gen != gen {
			return // the frame closed the connection
		}
	}
	c.rn = uint8(copy(c.rbuf[:], b))
}

// readLater queues conn i to be read again on the loop's next pass.
func (l *loop) readLater(i int, hup bool) {
	l.again = append(l.again, readAgain{idx: int32(i), gen: l.conns[i].gen, hup: hup})
	l.more = true
}

// frame handles one frame from the server on conn i.
func (l *loop) frame(i int, f *wire.Frame, now int64) {
	c := &l.conns[i]
	w := l.wins.at(now)
	switch {
	case f.Cmd == wire.CmdLoginResp && c.state == stLoggingIn:
		if f.Result() != wire.LoginOK {
			l.e.log.Debug("login rejected", "uid", c.uid, "result", f.Result())
			l.closeConn(i, now, whyFailed)
			return
		}
		c.state = stUp
		c.attempts = 0
		l.up++
		l.connecting--
		w.c.ConnEstablished++
		l.recs = append(l.recs, ledger.Record{Ev: ledger.EvLogin, UID: c.uid, T: now / int64(time.Millisecond), Srv: c.u.Srv})
		for _, env := range l.reopen[c.uid] {
			l.opensDue.Push(now+l.openDelay(), openTimer{uid: c.uid, env: env})
		}
		delete(l.reopen, c.uid)
	case c.state != stUp:
		w.c.Anomalies++ // nothing but LOGIN_RESP is expected before login
	case f.Cmd == wire.CmdShakeResp:
		l.shakeResp(c, f, now, w)
	case f.Cmd == wire.CmdEnvelope:
		w.c.Notified++
		to := slices.Clone(f.Recipients())
		l.recs = append(l.recs, ledger.Record{Ev: ledger.EvNotify, Env: f.Env(), UID: c.uid, To: to,
			Amount: f.Amount(), T: now / int64(time.Millisecond), Srv: c.u.Srv})
		if !f.Names(c.uid) {
			w.c.NotNamed++
			return
		}
		k := openKey{c.uid, f.Env()}
		if _, seen := l.opening[k]; seen {
			return // delivered again: opened (or being opened) once
		}
		l.opening[k] = struct{}{}
		l.opensDue.Push(now+l.openDelay(), openTimer{uid: c.uid, env: f.Env()})
	case f.Cmd == wire.CmdOpenResp:
		key := openKey{c.uid, f.Env()}
		if at, ok := l.opens[key]; ok {
			delete(l.opens, key)
			recordMicros(w.openLat, now-at)
		} else {
			w.c.Anomalies++
		}
		w.c.OpenAnswered++
		w.c.OpenAmount += uint64(f.Amount())
		l.recs = append(l.recs, ledger.Record{Ev: ledger.EvOpen, Env: f.Env(), UID: c.uid,
			Amount: f.Amount(), T: now / int64(time.Millisecond), Srv: c.u.Srv})
		l.batch = append(l.batch, ack{uid: c.uid, open: true})
	default:
		w.c.Anomalies++ // a client's command, or a second LOGIN_RESP
	}
}

// shakeResp matches a SHAKE_RESP to the oldest pending SHAKE of its
// connection (responses come back in order), even one already counted
// unanswered, so that a late grant is still journaled against it.
func (l *loop) shakeResp(c *conn, f *wire.Frame, now int64, w *winAcc) {
	if c.plen == 0 {
		w.c.Anomalies++
		return
	}
	at, _ := c.popPending()
	l.cgen++ // Pending, and below a result or awaiting
	recordMicros(w.shakeLat, now-at)
	r := f.Result()
	switch r {
	case wire.ResultGot:
		w.c.Got++
		w.c.GrantAmount += uint64(f.Amount())
		c.awaiting++
		l.recs = append(l.recs, ledger.Record{Ev: ledger.EvGrant, Env: f.Env(), UID: c.uid,
			Amount: f.Amount(), T: now / int64(time.Millisecond), Srv: c.u.Srv})
		l.batch = append(l.batch, ack{uid: c.uid})
	case wire.ResultNone:
		w.c.None++
		c.u.None++
	case wire.ResultEmpty:
		w.c.Empty++
		c.u.None++
	case wire.ResultOverloaded:
		w.c.Overloaded++
		c.u.Overloaded++
		if !l.e.cfg.IgnoreOverload {
			c.skipLeft = 1 << c.skipLevel
			if c.skipLevel < 6 {
				c.skipLevel++
			}
		}
		return
	default:
		// An unknown result answers the SHAKE all the same.
		w.c.Anomalies++
		c.u.None++
	}
	c.skipLevel = 0
}
