package server

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// held is a response waiting until the journal has committed its batch.
// journaled says whether the batch holds its record (a grant, a first
// OPEN's share, a notification): if the batch fails, that response is
// taken back (journalFailed).
type held struct {
	c         *conn
	seq       uint64
	f         wire.Frame
	journaled bool
}

// set is one SET: the connections whose uid maps to it, its envelope
// pool, and the journal batches of its answers. Its loop is its worker:
// everything but the fields under mu and the atomics is touched by that
// loop's goroutine only.
type set struct {
	srv  *Server
	idx  int
	loop *loop

	committed atomic.Uint64 // journal batches of this SET done (durable or failed)
	// gen is bumped before and after every change of this SET's user
	// counters (odd while one is under way), so a checkpoint that finds
	// every SET's gen as it was before it last read the counters knows
	// they are unchanged without reading them.
	gen atomic.Uint64

	failMu sync.Mutex
	failed []uint64 // failMu: batches whose commit failed, not yet released

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
	if err != nil {
		// Recorded before committed moves, so release sees it.
		w.failMu.Lock()
		w.failed = append(w.failed, w.committed.Load()+1)
		w.failMu.Unlock()
	}
	w.committed.Add(1)
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
	if !journaled && w.head == len(w.held) && w.committed.Load() == w.seq {
		w.loop.queue(c, &f)
		return
	}
	w.held = append(w.held, held{c: c, seq: w.seq + 1, f: f, journaled: journaled})
}

// release moves every response whose batch is durable to its
// connection's output, in order.
func (w *set) release() {
	committed := w.committed.Load()
	w.failMu.Lock()
	failed := w.failed
	w.failMu.Unlock()
	for w.head < len(w.held) {
		h := &w.held[w.head]
		if h.seq > committed {
			break
		}
		if h.journaled && slices.Contains(failed, h.seq) {
			w.takeBack(h)
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
	if len(failed) > 0 {
		// Failed batches before every response still held are done with.
		next := committed + 1
		if w.head < len(w.held) {
			next = w.held[w.head].seq
		}
		w.failMu.Lock()
		w.failed = slices.DeleteFunc(w.failed, func(seq uint64) bool { return seq < next })
		w.failMu.Unlock()
	}
}

// takeBack undoes a response whose record the journal could not write,
// so that nothing is granted or paid without a record: a grant goes back
// to the pool and the client hears 17 (overloaded); a first OPEN's share
// is unpaid and the client hears 0 (nothing paid); a notification is not
// pushed.
func (w *set) takeBack(h *held) {
	f := &h.f
	switch f.Cmd {
	case wire.CmdShakeResp:
		env, amount := f.Fields[2], f.Fields[3]
		w.mu.Lock()
		w.pool.push(envelope{id: env, amount: amount})
		w.granted--
		w.grantedAmount -= int64(amount)
		w.mu.Unlock()
		st := &w.stats
		st.got.Add(-1)
		st.overloaded.Add(1)
		w.gen.Add(1) // odd while the counters change (Server.checkpoint)
		u := w.users.row(&w.mu, h.c.uid)
		u.got.Add(^uint32(0)) // minus one
		u.overloaded.Add(1)
		w.gen.Add(1)
		w.loop.queue(h.c, ptr(wire.ShakeResp(w.loop.nowSec, h.c.uid, wire.ResultOverloaded, 0, 0)))
	case wire.CmdOpenResp:
		w.srv.sends.unpay(f.Fields[0], h.c.uid, f.Fields[1])
		w.loop.queue(h.c, ptr(wire.OpenResp(w.loop.nowSec, f.Fields[0], 0)))
	case wire.CmdEnvelope:
		// Not pushed now: pushed once the journal can record it.
		w.srv.deferNotify(w, f.Fields[0], h.c.uid)
	default:
		w.loop.queue(h.c, f)
	}
	w.srv.journalRefused.Add(1)
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
	w.gen.Add(1) // odd while the counters change (Server.checkpoint)
	defer w.gen.Add(1)
	u := w.users.row(&w.mu, c.uid)
	u.shake.Add(1)
	if lim := w.srv.limiter; lim != nil && !lim.Allow() || !w.srv.j.Healthy() {
		if !w.srv.j.Healthy() {
			// No grant without a record: the journal cannot be written.
			w.srv.journalRefused.Add(1)
		}
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
	w.gen.Add(1) // odd while the counters change (Server.checkpoint)
	w.users.row(&w.mu, c.uid).open.Add(1)
	w.gen.Add(1)
	if !w.srv.j.Healthy() {
		// Only a share already paid (and journaled) is answered; nothing
		// new is paid while the journal cannot be written.
		share := w.srv.sends.paidShare(env, c.uid)
		if share == 0 {
			w.srv.journalRefused.Add(1)
		}
		w.respond(c, wire.OpenResp(w.loop.nowSec, env, share), false)
		return
	}
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
	if !w.srv.j.Healthy() {
		// Not journaled, not pushed: pushed once the journal can record it.
		w.srv.journalRefused.Add(1)
		w.srv.deferNotify(w, env, uid)
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
