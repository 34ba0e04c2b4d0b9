package schedule

import (
	"slices"
	"sort"
)

// Fire is one SHAKE due: user UID fires global fire index F at At, the
// intended time in Unix ns (the coordinator's clock).
type Fire struct {
	UID uint32
	F   int64
	At  int64
}

// Cursor walks the fires of an owned subset of a plan's users in time
// order. It holds the owned users sorted by slot and walks them cycle after
// cycle (f = cycle*U + slot), so its work is proportional to its own fires
// and never to U or Q: O(log n) to seek, O(1) a fire.
//
// A Cursor is not safe for concurrent use.
type Cursor struct {
	segs   []Segment // a copy of the plan's segments
	u      int64
	stride uint64
	users  []Range  // the plan's users, to tell whether Follow may keep the slots
	owned  []uint64 // slot<<32 | uid, sorted: slot order is fire order within a cycle

	// Position of the pending fire: owned[pos] in cycle, within segs[seg].
	cycle int64
	pos   int
	seg   int

	pending Fire
	have    bool  // pending is computed
	done    bool  // no fire ever again
	from    int64 // the time the cursor was opened or last sought to
	lastF   int64 // F of the last fire Next returned, -1 before the first
}

// Cursor opens a cursor over the users of the plan that fall in owned (uid
// ranges this agent holds; they may overlap each other or reach outside the
// plan). Its first fire is the first owned fire with At >= from.
func (p *Plan) Cursor(owned []Range, from int64) *Cursor {
	c := &Cursor{
		segs:   slices.Clone(p.Segments),
		u:      p.U(),
		stride: p.Stride,
		users:  slices.Clone(p.Users),
		lastF:  -1,
	}
	c.owned = ownedSlots(p, owned)
	c.seekTime(from)
	return c
}

// ownedSlots lists slot<<32|uid for every plan user inside owned, sorted
// and without duplicates.
func ownedSlots(p *Plan, owned []Range) []uint64 {
	u := uint64(p.U())
	if u == 0 {
		return nil
	}
	n := int64(0)
	for _, r := range p.Users {
		for _, o := range owned {
			n += intersect(r, o).Len()
		}
	}
	out := make([]uint64, 0, n)
	base := uint64(0)
	for _, r := range p.Users {
		for _, o := range owned {
			in := intersect(r, o)
			if in.Len() == 0 {
				continue
			}
			// Consecutive indices step the slot by the stride mod U.
			slot := uint64(slotOf(base+uint64(in.Lo-r.Lo), p.Stride, u))
			step := p.Stride % u
			for uid := uint64(in.Lo); uid < uint64(in.Hi); uid++ {
				out = append(out, slot<<32|uid)
				if slot += step; slot >= u {
					slot -= u
				}
			}
		}
		base += uint64(r.Len())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func intersect(a, b Range) Range {
	r := Range{Lo: max(a.Lo, b.Lo), Hi: min(a.Hi, b.Hi)}
	if r.Lo >= r.Hi {
		return Range{}
	}
	return r
}

// Len is the number of owned users the cursor walks.
func (c *Cursor) Len() int { return len(c.owned) }

// Next returns the next fire and moves past it; false means no more fires
// ever: the rate is 0 from here on, or the cursor owns no users.
func (c *Cursor) Next() (Fire, bool) {
	if !c.fill() {
		return Fire{}, false
	}
	c.have = false
	c.lastF = c.pending.F
	if c.pos++; c.pos == len(c.owned) {
		c.pos = 0
		c.cycle++
	}
	return c.pending, true
}

// Peek returns the next fire without moving past it.
func (c *Cursor) Peek() (Fire, bool) {
	if !c.fill() {
		return Fire{}, false
	}
	return c.pending, true
}

// SeekTo skips forward to the first fire with At >= from, after a stall or
// when the plan switches. It never goes back: fires Next already returned
// are not returned again.
func (c *Cursor) SeekTo(from int64) {
	c.seekTime(from)
}

// Follow adopts a newer version of the same plan (same users and stride,
// typically one more rate segment) and keeps walking from the fire after
// the last one returned. It reports false, and changes nothing, if p
// numbers its users differently: open a new Cursor then.
func (c *Cursor) Follow(p *Plan) bool {
	if p.Stride != c.stride || !slices.Equal(p.Users, c.users) {
		return false
	}
	c.segs = slices.Clone(p.Segments)
	if c.lastF < 0 {
		c.seekTime(c.from)
	} else {
		c.seekFire(c.lastF+1, segmentOfFire(c.segs, c.lastF+1))
	}
	return true
}

// fill computes the pending fire, reporting false when there is none.
func (c *Cursor) fill() bool {
	if c.have {
		return true
	}
	if c.done {
		return false
	}
	f := c.cycle*c.u + int64(c.owned[c.pos]>>32)
	// A segment with Q = 0 and a successor covers no fire indices (its F
	// equals the next one's), so this loop also steps over pauses.
	for c.seg+1 < len(c.segs) && f >= c.segs[c.seg+1].F {
		c.seg++
	}
	s := c.segs[c.seg]
	if s.Q == 0 {
		c.done = true // the last segment, at rate 0
		return false
	}
	c.pending = Fire{UID: uint32(c.owned[c.pos]), F: f, At: s.At(f)}
	c.have = true
	return true
}

// seekTime positions the cursor on the first owned fire at or after t, and
// after the last fire returned.
func (c *Cursor) seekTime(t int64) {
	c.from = t
	if len(c.owned) == 0 || len(c.segs) == 0 {
		c.done, c.have = true, false
		return
	}
	k := segmentAt(c.segs, t)
	var f int64
	if k < 0 {
		k, f = 0, c.segs[0].F
	} else {
		f = c.segs[k].first(t)
	}
	if f <= c.lastF {
		f = c.lastF + 1
		k = segmentOfFire(c.segs, f)
	}
	c.seekFire(f, k)
}

// seekFire positions the cursor on the first owned fire index >= f, with
// seg the segment holding f (fill moves on from there).
func (c *Cursor) seekFire(f int64, seg int) {
	c.done, c.have = false, false
	c.seg = max(seg, 0)
	c.cycle = f / c.u
	v := uint64(f % c.u)
	c.pos = sort.Search(len(c.owned), func(k int) bool { return c.owned[k]>>32 >= v })
	if c.pos == len(c.owned) {
		c.pos = 0
		c.cycle++
	}
}

// segmentOfFire is the index of the last segment whose F is <= f.
func segmentOfFire(segs []Segment, f int64) int {
	return sort.Search(len(segs), func(k int) bool { return segs[k].F > f }) - 1
}
