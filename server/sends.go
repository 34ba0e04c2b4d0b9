package server

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/hbctl/hbctl/server/wire"
)

// sent is a sent envelope: who may open it and what each was paid.
type sent struct {
	amount, remaining uint32
	n                 uint8
	to                [wire.MaxRecipients]uint32
	paid              [wire.MaxRecipients]uint32 // 0 = not opened yet (shares are >= 1)
}

// sendTable holds every sent envelope of the run. OPENs of one envelope
// come from different SETs, hence the lock.
type sendTable struct {
	mu sync.Mutex // guards m and unopened
	m  map[uint32]*sent
	// unopened lists, per recipient, the envelopes naming it that it has
	// not opened yet: what a login delivers again (at least once).
	unopened map[uint32][]uint32

	opened, openedAmount atomic.Int64
}

func (t *sendTable) add(id, amount uint32, to []uint32) {
	e := &sent{amount: amount, remaining: amount, n: uint8(len(to))}
	copy(e.to[:], to)
	t.mu.Lock()
	t.m[id] = e
	if t.unopened == nil {
		t.unopened = make(map[uint32][]uint32)
	}
	for i, u := range to {
		if !contains(to[:i], u) {
			t.unopened[u] = append(t.unopened[u], id)
		}
	}
	t.mu.Unlock()
}

// markOpened takes env off uid's unopened list. t.mu must be held.
func (t *sendTable) markOpened(env, uid uint32) {
	l := t.unopened[uid]
	for i, id := range l {
		if id == env {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(t.unopened, uid)
	} else {
		t.unopened[uid] = l
	}
}

// pending appends to dst the envelopes naming uid it has not opened.
func (t *sendTable) pending(uid uint32, dst []uint32) []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(dst, t.unopened[uid]...)
}

// open pays uid its share of env the first time and returns the same
// share on repeats; 0 for a non-recipient or an unknown envelope.
func (t *sendTable) open(env, uid uint32, rng *rand.Rand) (share uint32, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[env]
	if e == nil {
		return 0, false
	}
	i := e.index(uid)
	if i < 0 {
		return 0, false
	}
	if e.paid[i] != 0 {
		return e.paid[i], false
	}
	share = NextShare(rng, e.remaining, e.left())
	e.paid[i] = share
	e.remaining -= share
	t.markOpened(env, uid)
	t.opened.Add(1)
	t.openedAmount.Add(int64(share))
	return share, true
}

// unpay undoes the first payment of share to uid, whose record could not
// be journaled.
func (t *sendTable) unpay(env, uid, share uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[env]
	if e == nil {
		return
	}
	if i := e.index(uid); i >= 0 && e.paid[i] == share && share != 0 {
		e.paid[i] = 0
		e.remaining += share
		t.opened.Add(-1)
		t.openedAmount.Add(-int64(share))
	}
}

// paidShare is what uid was already paid of env, 0 if nothing.
func (t *sendTable) paidShare(env, uid uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[env]
	if e == nil {
		return 0
	}
	if i := e.index(uid); i >= 0 {
		return e.paid[i]
	}
	return 0
}

// replayOpen restores a share paid before a restart.
func (t *sendTable) replayOpen(env, uid, share uint32) {
	e := t.m[env]
	if e == nil {
		return
	}
	if i := e.index(uid); i >= 0 && e.paid[i] == 0 && share <= e.remaining {
		e.paid[i] = share
		e.remaining -= share
		t.markOpened(env, uid)
		t.opened.Add(1)
		t.openedAmount.Add(int64(share))
	}
}

// info is what an ENVELOPE frame announces.
func (t *sendTable) info(env uint32) (amount uint32, to []uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[env]
	if e == nil {
		return 0, nil, false
	}
	return e.amount, e.to[:e.n], true
}

func (e *sent) index(uid uint32) int {
	for i := 0; i < int(e.n); i++ {
		if e.to[i] == uid {
			return i
		}
	}
	return -1
}

func (e *sent) left() uint32 {
	var k uint32
	for i := 0; i < int(e.n); i++ {
		if e.paid[i] == 0 {
			k++
		}
	}
	return k
}
