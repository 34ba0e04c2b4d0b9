package server

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

type msgKind uint8

const (
	msgLogin  msgKind = iota // a: uid
	msgShake                 // a: arrival, Unix seconds
	msgOpen                  // a: envelope id
	msgGone                  // the reader ended
	msgNotify                // a: envelope id, b: recipient uid; c is nil
)

// msg is one request in a SET's inbox.
type msg struct {
	c    *conn
	kind msgKind
	a, b uint32
}

// maxBatch is how many requests a worker handles per wake-up before it
// journals and flushes: a bound on the latency one batch adds.
const maxBatch = 512

// held is a response waiting until the journal has committed its batch.
type held struct {
	c   *conn
	seq uint64
	f   wire.Frame
}

// set is one SET: the connections whose uid maps to it, its envelope
// pool, and the worker goroutine that answers all their requests.
type set struct {
	srv   *Server
	idx   int
	inbox chan msg
	kick  chan struct{} // journal commits, signalled without blocking

	committed  atomic.Uint64 // journal batches of this SET made durable
	failedFrom atomic.Uint64 // first batch whose commit failed; 0 = none

	// Worker-owned.
	seq   uint64 // journal batches handed to the journal
	recs  []ledger.Record
	held  []held
	head  int // first unreleased entry of held
	dirty []*conn
	rng   *rand.Rand
	// The non-blocking write callback and its arguments, one per worker
	// so that writes do not allocate.
	wfn  func(fd uintptr) bool
	wbuf []byte
	wn   int
	werr error

	mu    sync.Mutex // guards conns, list, pool, the envelope totals and users' map
	conns map[uint32]*conn
	list  []*conn // the registered connections, for random recipients
	pool  pool
	// Envelope totals change with the pool under mu, so that a snapshot
	// always has issued = granted + pool.
	issued, issuedAmount, granted, grantedAmount int64

	stats setStats
	users userTable
}

// setStats are the hot counters, kept per SET so workers do not share
// cache lines; Stats sums them.
type setStats struct {
	shake, got, none, overloaded, open atomic.Int64
	perSec                             secRing
}

func newSet(s *Server, idx int) *set {
	w := &set{
		srv:   s,
		idx:   idx,
		inbox: make(chan msg, s.cfg.Inbox),
		kick:  make(chan struct{}, 1),
		rng:   newRNG(s.seed, uint64(idx)+16),
		conns: make(map[uint32]*conn),
	}
	w.users.init(s.cfg.Users, idx, s.cfg.Sets)
	w.wfn = func(fd uintptr) bool {
		for {
			n, err := syscall.Write(int(fd), w.wbuf)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				w.wn, w.werr = 0, nil
			} else {
				w.wn, w.werr = n, err
				if n < 0 {
					w.wn = 0
				}
			}
			return true
		}
	}
	return w
}

// journalDone is the commit callback: it runs on the journal's goroutine
// and must not block. Commits arrive in the order they were requested.
func (w *set) journalDone(err error) {
	seq := w.committed.Add(1)
	if err != nil {
		w.failedFrom.CompareAndSwap(0, seq)
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *set) run() {
	defer w.srv.wg.Done()
	done := w.journalDone
	quit := w.srv.quit
	for {
		select {
		case m := <-w.inbox:
			w.handle(&m)
		drain:
			for i := 1; i < maxBatch; i++ {
				select {
				case m = <-w.inbox:
					w.handle(&m)
				default:
					break drain
				}
			}
			w.endBatch(done)
		case <-w.kick:
		case <-quit:
			return
		}
		w.release()
		for _, c := range w.dirty {
			c.flush(w)
		}
		clear(w.dirty)
		w.dirty = w.dirty[:0]
	}
}

// endBatch journals the batch's records in one group-committed append.
// Responses of the batch were held with seq w.seq+1; a batch without
// records needs no commit of its own, only that earlier ones are done.
func (w *set) endBatch(done func(error)) {
	if len(w.recs) == 0 {
		for i := len(w.held) - 1; i >= w.head && w.held[i].seq > w.seq; i-- {
			w.held[i].seq = w.seq
		}
		return
	}
	w.seq++
	w.srv.j.AppendAsync(done, w.recs...)
	clear(w.recs)
	w.recs = w.recs[:0]
}

// respond holds a response until its batch (and every earlier one) is
// durable, which keeps each connection's responses in request order.
func (w *set) respond(c *conn, f wire.Frame) {
	w.held = append(w.held, held{c: c, seq: w.seq + 1, f: f})
}

// release moves every response whose batch is durable to its
// connection's output, in order.
func (w *set) release() {
	committed := w.committed.Load()
	failed := w.failedFrom.Load()
	for w.head < len(w.held) {
		h := &w.held[w.head]
		if h.seq > committed {
			break
		}
		if failed != 0 && h.seq >= failed {
			// Not durable: the client must not see it.
			h.c.close()
		} else {
			h.c.queue(w, &h.f)
		}
		h.c = nil
		w.head++
	}
	if w.head == len(w.held) {
		w.held = w.held[:0]
		w.head = 0
	}
}

// writeNow writes as much of buf as the socket takes without waiting.
func (w *set) writeNow(c *conn, buf []byte) (int, error) {
	if c.rc == nil {
		return 0, nil // not a socket: the flusher writes it
	}
	w.wbuf = buf
	err := c.rc.Write(w.wfn)
	w.wbuf = nil
	if err != nil {
		return 0, err
	}
	return w.wn, w.werr
}

func (w *set) handle(m *msg) {
	switch m.kind {
	case msgLogin:
		w.login(m.c, m.a)
	case msgShake:
		w.shake(m.c, m.a)
	case msgOpen:
		w.open(m.c, m.a)
	case msgGone:
		w.gone(m.c)
	case msgNotify:
		w.notify(m.a, m.b)
	}
}

func (w *set) login(c *conn, uid uint32) {
	if uid != c.uid {
		// A second LOGIN on a connection may not change its user.
		w.respond(c, wire.LoginResp(now(), uid, wire.LoginRejected))
		return
	}
	if c.pos < 0 {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		w.mu.Lock()
		old := w.conns[uid]
		if old != nil {
			w.unlist(old)
		}
		w.conns[uid] = c
		c.pos = int32(len(w.list))
		w.list = append(w.list, c)
		w.mu.Unlock()
		if old != nil {
			// The newer connection wins; the older one is closed.
			old.close()
		} else {
			w.srv.connections.Add(1)
		}
	}
	w.respond(c, wire.LoginResp(now(), uid, wire.LoginOK))
}

// unlist removes c from the SET's registry. w.mu must be held.
func (w *set) unlist(c *conn) {
	last := w.list[len(w.list)-1]
	w.list[c.pos] = last
	last.pos = c.pos
	w.list[len(w.list)-1] = nil
	w.list = w.list[:len(w.list)-1]
	c.pos = -1
}

func (w *set) gone(c *conn) {
	if c.pos < 0 {
		return
	}
	w.mu.Lock()
	if w.conns[c.uid] == c {
		delete(w.conns, c.uid)
		w.unlist(c)
		w.mu.Unlock()
		w.srv.connections.Add(-1)
		return
	}
	w.mu.Unlock()
}

func (w *set) shake(c *conn, sec uint32) {
	st := &w.stats
	st.shake.Add(1)
	st.perSec.add(int64(sec))
	u := w.users.row(&w.mu, c.uid)
	u.shake.Add(1)
	if lim := w.srv.limiter; lim != nil && !lim.Allow() {
		st.overloaded.Add(1)
		u.overloaded.Add(1)
		w.respond(c, wire.ShakeResp(now(), c.uid, wire.ResultOverloaded, 0, 0))
		return
	}
	w.mu.Lock()
	e, ok := w.pool.pop()
	if ok {
		w.granted++
		w.grantedAmount += int64(e.amount)
	}
	w.mu.Unlock()
	if !ok {
		st.none.Add(1)
		u.none.Add(1)
		w.respond(c, wire.ShakeResp(now(), c.uid, wire.ResultNone, 0, 0))
		return
	}
	st.got.Add(1)
	u.got.Add(1)
	w.recs = append(w.recs, ledger.Record{Ev: ledger.EvGrant, Env: e.id, UID: c.uid, Amount: e.amount, T: nowMS()})
	w.respond(c, wire.ShakeResp(now(), c.uid, wire.ResultGot, e.id, e.amount))
}

func (w *set) open(c *conn, env uint32) {
	w.stats.open.Add(1)
	w.users.row(&w.mu, c.uid).open.Add(1)
	share, first := w.srv.sends.open(env, c.uid, w.rng)
	if first {
		w.recs = append(w.recs, ledger.Record{Ev: ledger.EvOpen, Env: env, UID: c.uid, Amount: share, T: nowMS()})
	}
	w.respond(c, wire.OpenResp(now(), env, share))
}

func (w *set) notify(env, uid uint32) {
	w.mu.Lock()
	c := w.conns[uid]
	w.mu.Unlock()
	if c == nil {
		return // left before its envelope was pushed; never notified
	}
	amount, to, ok := w.srv.sends.info(env)
	if !ok {
		return
	}
	w.recs = append(w.recs, ledger.Record{Ev: ledger.EvNotify, Env: env, UID: uid, T: nowMS()})
	w.respond(c, wire.Envelope(now(), env, amount, to))
}
