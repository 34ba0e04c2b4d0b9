package server

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// held is a response waiting until the journal has committed its batch.
type held struct {
	c   *conn
	seq uint64
	f   wire.Frame
}

// set is one SET: the connections whose uid maps to it, its envelope
// pool, and the journal batches of its answers. Its loop is its worker:
// everything but the fields under mu and the atomics is touched by that
// loop's goroutine only.
type set struct {
	srv  *Server
	idx  int
	loop *loop

	committed  atomic.Uint64 // journal batches of this SET made durable
	failedFrom atomic.Uint64 // first batch whose commit failed; 0 = none

	// Loop-owned.
	seq     uint64 // journal batches handed to the journal
	recs    []ledger.Record
	held    []held
	head    int  // first unreleased entry of held
	touched bool // in the loop's touched list
	rng     *rand.Rand
	done    func(error) // journalDone, bound once so appends do not allocate
	// redeliver is login's scratch list of envelopes to push again.
	redeliver []uint32

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

// setStats are the hot counters, kept per SET so loops do not share
// cache lines; Stats sums them.
type setStats struct {
	shake, got, none, overloaded, open atomic.Int64
	perSec                             secRing
}

func newSet(s *Server, idx int) *set {
	w := &set{
		srv:   s,
		idx:   idx,
		rng:   newRNG(s.seed, uint64(idx)+16),
		conns: make(map[uint32]*conn),
	}
	w.done = w.journalDone
	w.users.init(s.cfg.Users, idx, s.cfg.Sets)
	return w
}

// journalDone is the commit callback: it runs on the journal's goroutine
// and must not block. Commits arrive in the order they were requested.
func (w *set) journalDone(err error) {
	seq := w.committed.Add(1)
	if err != nil {
		w.failedFrom.CompareAndSwap(0, seq)
	}
	w.loop.wake()
}

// endBatch journals the iteration's records in one group-committed
// append. Responses of the batch were held with seq w.seq+1; a batch
// without records needs no commit of its own, only that earlier ones are
// done.
func (w *set) endBatch() {
	if len(w.recs) == 0 {
		for i := len(w.held) - 1; i >= w.head && w.held[i].seq > w.seq; i-- {
			w.held[i].seq = w.seq
		}
		return
	}
	w.seq++
	w.srv.j.AppendAsync(w.done, w.recs...)
	clear(w.recs)
	w.recs = w.recs[:0]
}

// respond holds a response until its batch (and every earlier one) is
// durable, which keeps each connection's responses in request order. A
// response that journals nothing, with nothing held before it and every
// batch committed, goes straight to the connection's output.
func (w *set) respond(c *conn, f wire.Frame, journaled bool) {
	if !journaled && w.head == len(w.held) && w.committed.Load() == w.seq && w.failedFrom.Load() == 0 {
		w.loop.queue(c, &f)
		return
	}
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
			w.loop.closeConn(h.c)
		} else {
			w.loop.queue(h.c, &h.f)
		}
		h.c = nil
		w.head++
	}
	if w.head == len(w.held) {
		w.held = w.held[:0]
		w.head = 0
	}
}

func (w *set) login(c *conn, uid uint32) {
	if uid != c.uid {
		// A second LOGIN on a connection may not change its user.
		w.respond(c, wire.LoginResp(w.loop.nowSec, uid, wire.LoginRejected), false)
		return
	}
	fresh := false
	if c.pos < 0 {
		if c.closed {
			return
		}
		fresh = true
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
			w.srv.journalEvent(ledger.Record{Ev: ledger.EvDown, UID: uid, T: nowMS()})
			w.loop.closeConn(old)
		} else {
			w.srv.connections.Add(1)
		}
	}
	w.respond(c, wire.LoginResp(w.loop.nowSec, uid, wire.LoginOK), false)
	if fresh {
		w.srv.journalEvent(ledger.Record{Ev: ledger.EvLogin, UID: uid, T: nowMS()})
		// At least once: every envelope naming uid that it has not opened
		// is pushed again on each login, after the LOGIN_RESP.
		w.redeliver = w.srv.sends.pending(uid, w.redeliver[:0])
		for _, env := range w.redeliver {
			w.notifyConn(c, env, uid)
		}
	}
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
		w.srv.journalEvent(ledger.Record{Ev: ledger.EvDown, UID: c.uid, T: nowMS()})
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
		w.respond(c, wire.ShakeResp(w.loop.nowSec, c.uid, wire.ResultOverloaded, 0, 0), false)
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
		w.respond(c, wire.ShakeResp(w.loop.nowSec, c.uid, wire.ResultNone, 0, 0), false)
		return
	}
	st.got.Add(1)
	u.got.Add(1)
	w.recs = append(w.recs, ledger.Record{Ev: ledger.EvGrant, Env: e.id, UID: c.uid, Amount: e.amount, T: nowMS()})
	w.respond(c, wire.ShakeResp(w.loop.nowSec, c.uid, wire.ResultGot, e.id, e.amount), true)
}

func (w *set) open(c *conn, env uint32) {
	w.stats.open.Add(1)
	w.users.row(&w.mu, c.uid).open.Add(1)
	share, first := w.srv.sends.open(env, c.uid, w.rng)
	if first {
		w.recs = append(w.recs, ledger.Record{Ev: ledger.EvOpen, Env: env, UID: c.uid, Amount: share, T: nowMS()})
	}
	w.respond(c, wire.OpenResp(w.loop.nowSec, env, share), first)
}

func (w *set) notify(env, uid uint32) {
	w.mu.Lock()
	c := w.conns[uid]
	w.mu.Unlock()
	if c == nil {
		return // gone before its envelope was pushed: its next login delivers it
	}
	w.notifyConn(c, env, uid)
}

// notifyConn journals and pushes the ENVELOPE of env to uid on c.
func (w *set) notifyConn(c *conn, env, uid uint32) {
	amount, to, ok := w.srv.sends.info(env)
	if !ok {
		return
	}
	w.recs = append(w.recs, ledger.Record{Ev: ledger.EvNotify, Env: env, UID: uid, T: nowMS()})
	w.respond(c, wire.Envelope(w.loop.nowSec, env, amount, to), true)
}

// journalEvent journals a connection event. Nothing waits for it: it tells
// a reset from a bug afterwards, and no answer depends on it.
func (s *Server) journalEvent(r ledger.Record) {
	s.j.AppendAsync(ignoreCommit, r)
}

func ignoreCommit(error) {}
