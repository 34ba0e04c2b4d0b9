package agents

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/hbctl/hbctl/coordinator/schedule"
)

// find is the uid's index in conns for every uid a loop holds, and no
// index for any other, as the users held change.
func TestFindIsTheRankInOwned(t *testing.T) {
	// Nothing listens on port 1: the users are dialed and fail, which
	// find does not care about.
	e := newEngine(t, Config{Name: "find", Servers: []string{"127.0.0.1:1"}, Loops: 3})
	sets := [][]schedule.Range{
		{{Lo: 0, Hi: 100}, {Lo: 150, Hi: 400}, {Lo: 1000, Hi: 1003}},
		{{Lo: 50, Hi: 70}, {Lo: 63, Hi: 65}, {Lo: 380, Hi: 1001}},
		{{Lo: 1 << 31, Hi: 1<<31 + 200}},
		{},
	}
	for _, set := range sets {
		if err := e.Connect(set); err != nil {
			t.Fatal(err)
		}
		held := map[uint32]bool{}
		for _, r := range set {
			for u := uint64(r.Lo); u < uint64(r.Hi); u++ {
				held[uint32(u)] = true
			}
		}
		probes := []uint32{0, 1<<32 - 1}
		for _, r := range set {
			for u := uint64(r.Lo) - min(uint64(r.Lo), 70); u < uint64(r.Hi)+70; u++ {
				probes = append(probes, uint32(u))
			}
		}
		found := 0
		var wrong []string // found on the loops' goroutines, reported on this one
		for _, l := range e.loops {
			l.call(func() {
				for _, uid := range probes {
					i, ok := l.find(uid)
					if ok && (i >= len(l.conns) || l.conns[i].uid != uid) {
						wrong = append(wrong, fmt.Sprintf("find(%d) = %d, which holds another user", uid, i))
					}
					if ok {
						found++
						continue
					}
					for k := range l.conns {
						if l.conns[k].uid == uid {
							wrong = append(wrong, fmt.Sprintf("find(%d) misses conn %d of loop %d", uid, k, l.id))
						}
					}
				}
			})
		}
		if len(wrong) > 0 {
			t.Fatalf("set %v: %s", set, strings.Join(wrong, "; "))
		}
		want := 0
		for _, uid := range probes {
			if held[uid] {
				want++
			}
		}
		if found != want {
			t.Errorf("set %v: %d probes found in some loop, want %d", set, found, want)
		}
	}
}

// The fields a SHAKE's fire and answer touch sit on two cache lines of a
// conn, and a conn is a whole number of lines, so that a large slice of
// them (page-aligned) keeps every conn's lines its own.
func TestConnLayout(t *testing.T) {
	var c conn
	line := func(off uintptr) uintptr { return off / 64 }
	if s := unsafe.Sizeof(c); s%64 != 0 {
		t.Errorf("conn is %d bytes, not a whole number of 64-byte lines", s)
	}
	first := []uintptr{unsafe.Offsetof(c.fd), unsafe.Offsetof(c.gen), unsafe.Offsetof(c.state),
		unsafe.Offsetof(c.skipLeft), unsafe.Offsetof(c.plen), unsafe.Offsetof(c.pending)}
	for _, off := range first {
		if line(off) != 0 {
			t.Errorf("a field at offset %d is past the first line", off)
		}
	}
	u := unsafe.Offsetof(c.u)
	counters := []uintptr{u + unsafe.Offsetof(c.u.Shake), u + unsafe.Offsetof(c.u.Got), u + unsafe.Offsetof(c.u.None),
		u + unsafe.Offsetof(c.u.Overloaded) + 7}
	for _, off := range counters {
		if line(off) != line(counters[0]) {
			t.Errorf("the SHAKE counters span lines %d and %d", line(counters[0]), line(off))
		}
	}
}
