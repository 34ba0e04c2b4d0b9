package server

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/hbctl/hbctl/server/ledger"
)

// userRow is one user's request counters: 20 bytes, so 1,000,000 users
// within a --users range cost 20 MB.
type userRow struct {
	shake, got, none, overloaded, open atomic.Uint32
}

func (u *userRow) active() bool {
	return u.shake.Load()|u.open.Load() != 0
}

// userTable holds the counters of one SET's users: a dense array indexed
// by uid/sets when the uid range is known, a map otherwise.
type userTable struct {
	sets  uint32
	base  uint32 // Lo/sets
	dense []userRow
	// sparse is used without a range; the SET's mu guards inserts and
	// readers, the SET's loop (the only inserter) reads it without the lock.
	sparse map[uint32]*userRow
}

func (t *userTable) init(r UIDRange, idx, sets int) {
	t.sets = uint32(sets)
	if !r.Set {
		t.sparse = make(map[uint32]*userRow)
		return
	}
	t.base = r.Lo / t.sets
	t.dense = make([]userRow, r.Hi/t.sets-t.base+1)
}

// row returns uid's counters, creating them if needed. The SET's loop only.
func (t *userTable) row(mu *sync.Mutex, uid uint32) *userRow {
	if t.dense != nil {
		return &t.dense[uid/t.sets-t.base]
	}
	if u := t.sparse[uid]; u != nil {
		return u
	}
	u := new(userRow)
	mu.Lock()
	t.sparse[uid] = u
	mu.Unlock()
	return u
}

// appendCheckpoint appends the counters of every user with activity in
// the checkpoint's row format (uid, shake, got, none, overloaded, open,
// u32 little-endian each) and returns how many rows it appended. It
// allocates nothing beyond growing dst: it runs every second over every
// user.
func (t *userTable) appendCheckpoint(mu *sync.Mutex, idx int, dst []byte) ([]byte, int) {
	n := 0
	put := func(uid uint32, u *userRow) {
		if u.active() {
			for _, v := range [...]uint32{uid, u.shake.Load(), u.got.Load(), u.none.Load(), u.overloaded.Load(), u.open.Load()} {
				dst = binary.LittleEndian.AppendUint32(dst, v)
			}
			n++
		}
	}
	if t.dense != nil {
		for i := range t.dense {
			put((t.base+uint32(i))*t.sets+uint32(idx), &t.dense[i])
		}
		return dst, n
	}
	mu.Lock()
	defer mu.Unlock()
	for uid, u := range t.sparse {
		put(uid, u)
	}
	return dst, n
}

// appendActive appends the counters of every user with activity.
func (t *userTable) appendActive(mu *sync.Mutex, idx int, dst []ledger.ServerUser) []ledger.ServerUser {
	put := func(uid uint32, u *userRow) {
		if u.active() {
			dst = append(dst, ledger.ServerUser{UID: uid, Shake: uint64(u.shake.Load()), Got: uint64(u.got.Load()),
				None: uint64(u.none.Load()), Overloaded: uint64(u.overloaded.Load()), Open: uint64(u.open.Load())})
		}
	}
	if t.dense != nil {
		for i := range t.dense {
			put((t.base+uint32(i))*t.sets+uint32(idx), &t.dense[i])
		}
		return dst
	}
	mu.Lock()
	defer mu.Unlock()
	for uid, u := range t.sparse {
		put(uid, u)
	}
	return dst
}
