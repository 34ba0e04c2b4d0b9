package schedule

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// union runs one cursor per agent from the plan's start and returns all
// their fires before until, sorted by F.
func union(p *Plan, agents []Range, from, until int64) []Fire {
	var all []Fire
	for _, a := range agents {
		all = append(all, collect(p.Cursor([]Range{a}, from), until)...)
	}
	slices.SortFunc(all, func(a, b Fire) int { return int(a.F - b.F) })
	return all
}

// checkContiguous fails unless the fires' F values are first, first+1, ...
// with nothing skipped or repeated.
func checkContiguous(t *testing.T, fires []Fire, first int64) {
	t.Helper()
	for k, f := range fires {
		if f.F != first+int64(k) {
			t.Fatalf("fire %d has F=%d, want %d (skipped or repeated)", k, f.F, first+int64(k))
		}
	}
}

func TestExactlyQPerSecond(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name   string
		users  []Range
		q      int64
		agents int
	}{
		// Q divides U: each second is a quarter cycle.
		{"Q divides U", []Range{{0, 1000}}, 250, 4},
		// Q does not divide U: seconds straddle cycle ends.
		{"Q does not divide U", []Range{{0, 1000}}, 333, 3},
		// Q = U: every user once a second.
		{"Q equals U", []Range{{0, 1000}}, 1000, 5},
		// Q > U, not a multiple: users fire 2 or 3 times a second.
		{"Q above U", []Range{{0, 1000}}, 2500, 7},
		// Q a multiple of U: each user exactly 3 times a second.
		{"Q multiple of U", []Range{{0, 1000}}, 3000, 2},
		// A prime U and a Q below it, many agents.
		{"prime U", []Range{{0, 100_003}}, 60_000, 17},
		// One user firing 5 times a second.
		{"one user", []Range{{42, 43}}, 5, 1},
		// Below one fire per user per second, with agents of a few users.
		{"slow", []Range{{0, 7}}, 3, 3},
		// Users in several ranges with gaps, out of uid order.
		{"gapped users", []Range{{5000, 5600}, {0, 300}, {9000, 9100}}, 777, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, tc.users, tc.q)
			var agents []Range
			for _, r := range tc.users {
				n := max(1, tc.agents/len(tc.users))
				if int64(n) > r.Len() {
					n = int(r.Len())
				}
				agents = append(agents, split(rng, r.Lo, r.Len(), n, 1)...)
			}
			// Cover at least one whole cycle of U/Q seconds, and three.
			secs := int(max(3, p.U()/tc.q+2))
			start := p.Segments[0].T
			fires := union(&p, agents, start, start+int64(secs)*sec)
			checkContiguous(t, fires, 0)
			for k, n := range perSecond(fires, start, secs) {
				if n != tc.q {
					t.Fatalf("second %d: %d fires, want %d", k, n, tc.q)
				}
				if got := p.FiresIn(start/sec + int64(k)); got != tc.q {
					t.Fatalf("FiresIn second %d = %d", k, got)
				}
			}
			// Uniform inside the second: each tenth holds Q/10 ± 1.
			tenths := make([]int64, 10*secs)
			for _, f := range fires {
				tenths[(f.At-start)/(sec/10)]++
			}
			for k, n := range tenths {
				if d := float64(n) - float64(tc.q)/10; d > 1 || d < -1 {
					t.Fatalf("tenth %d: %d fires, want %.1f ± 1", k, n, float64(tc.q)/10)
				}
			}
		})
	}
}

func TestEveryUserOncePerCycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    uint32
		q    int64
	}{
		{"Q below U", 10_007, 3_000}, // a cycle lasts 3.3 s
		{"Q equals U", 4_096, 4_096}, // a cycle lasts 1 s
		{"Q above U", 1_000, 4_321},  // 4.3 cycles a second
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, []Range{{0, tc.u}}, tc.q)
			u := p.U()
			agents := split(rand.New(rand.NewPCG(2, 2)), 0, u, 4, 1)
			start := p.Segments[0].T
			// Three whole cycles.
			end, _ := p.FireAt(3 * u)
			fires := union(&p, agents, start, end)
			checkContiguous(t, fires, 0)
			if int64(len(fires)) != 3*u {
				t.Fatalf("%d fires, want %d", len(fires), 3*u)
			}
			period := u * sec / tc.q
			last := make(map[uint32]int64)
			for k, f := range fires {
				cycle := int64(k) / u
				slot := f.F % u
				i, _ := p.Index(f.UID)
				if p.Slot(i) != slot {
					t.Fatalf("fire %d: uid %d has slot %d, fired in slot %d", f.F, f.UID, p.Slot(i), slot)
				}
				if prev, ok := last[f.UID]; ok {
					// One cycle apart: U/Q seconds, to the nanosecond.
					if d := f.At - prev; d < period-1 || d > period+1 {
						t.Fatalf("uid %d fired %d ns after its previous fire, want %d", f.UID, d, period)
					}
				} else if cycle != 0 {
					t.Fatalf("uid %d first fired in cycle %d", f.UID, cycle)
				}
				last[f.UID] = f.At
			}
			if int64(len(last)) != u {
				t.Fatalf("%d users fired, want %d", len(last), u)
			}
		})
	}
}

func TestAgentShare(t *testing.T) {
	// Property: an agent holding a contiguous fraction p of U >= 10,000
	// users gets p·Q fires every second, within 1%.
	//
	// An agent's fires in one second are its slots inside a window of Q
	// consecutive fire indices; thanks to the golden stride its slots form
	// a lattice whose count in any window is off from the mean by a few
	// fires at most (about 3 for any block size and U, from the small
	// partial quotients of P/U), however big the share. So for 1% of p·Q to
	// be at least that error, each agent's p·Q must be 500 or more (1% =
	// 5 fires): Q is chosen from the smallest agent's share.
	rng := rand.New(rand.NewPCG(11, 17))
	const maxDev = 5
	trials := 40
	if testing.Short() {
		trials = 8
	}
	for trial := range trials {
		u := 10_000 + rng.Int64N(1_000_000)
		n := 1 + rng.IntN(17)
		agents := split(rng, 1+rng.Uint32N(1000), u, n, u/100)
		minLen := u
		for _, a := range agents {
			minLen = min(minLen, a.Len())
		}
		q := (500*u + minLen - 1) / minLen
		q += rng.Int64N(q) // some more, to vary Q against U
		p := mustPlan(t, []Range{{agents[0].Lo, agents[n-1].Hi}}, q)
		start := p.Segments[0].T + rng.Int64N(100)*sec
		const secs = 3
		for _, a := range agents {
			want := float64(a.Len()) * float64(q) / float64(u)
			got := perSecond(collect(p.Cursor([]Range{a}, start), start+secs*sec), start, secs)
			for k, g := range got {
				if d := float64(g) - want; d > want/100 || d < -want/100 {
					t.Fatalf("trial %d (U=%d Q=%d agents=%d): agent %v got %d fires in second %d, want %.1f ± 1%%",
						trial, u, q, n, a, g, k, want)
				}
				// The lattice bound itself, whatever the share.
				if d := float64(g) - want; d > maxDev || d < -maxDev {
					t.Fatalf("trial %d (U=%d Q=%d stride=%d): agent %v got %d fires in second %d, want %.1f ± %d",
						trial, u, q, p.Stride, a, g, k, want, maxDev)
				}
			}
		}
	}
}

func TestRateChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		q0, q1 int64
		at     time.Duration // after the start; rounded up to a whole second
	}{
		// The reference experiment: 30k to 60k.
		{"double", 30_000, 60_000, 2300 * time.Millisecond},
		// Down, with Q no longer dividing U.
		{"down", 60_000, 7_777, 3 * time.Second},
		// To zero: silence from the switch on.
		{"stop", 20_000, 0, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, []Range{{0, 100_000}}, tc.q0)
			agents := split(rand.New(rand.NewPCG(5, 5)), 0, 100_000, 5, 1000)
			start := p.Segments[0].T
			seg, err := p.SetRate(tc.q1, time.Unix(0, start).Add(tc.at))
			if err != nil {
				t.Fatal(err)
			}
			switchSec := int((seg.T - start) / sec)
			secs := switchSec + 3
			fires := union(&p, agents, start, start+int64(secs)*sec)
			checkContiguous(t, fires, 0)
			for k, n := range perSecond(fires, start, secs) {
				want := tc.q0
				if k >= switchSec {
					want = tc.q1 // the switch second already has the new rate
				}
				if n != want {
					t.Fatalf("second %d (switch at %d): %d fires, want %d", k, switchSec, n, want)
				}
			}
		})
	}
}

func TestCursorSegments(t *testing.T) {
	// 10/s for 2 s, paused 3 s, 20/s for 2 s, then stopped.
	p := mustPlan(t, []Range{{0, 8}}, 10)
	for _, c := range []struct {
		q  int64
		at time.Duration
	}{{0, 2 * time.Second}, {20, 5 * time.Second}, {0, 7 * time.Second}} {
		if _, err := p.SetRate(c.q, t0.Add(c.at)); err != nil {
			t.Fatal(err)
		}
	}
	start := p.Segments[0].T
	owned := []Range{{2, 5}}
	for _, tc := range []struct {
		name  string
		from  int64
		fires int // owned fires from `from` to the end
		first int64
	}{
		// From the start: 3/8 of 20 + 3/8 of 40 fires.
		{"from start", start, 3*20/8 + 3*40/8, start},
		// From inside the pause: the first fire is the resume instant or
		// after it, and nothing of the first segment.
		{"from pause", start + 3*sec, 3 * 40 / 8, start + 5*sec},
		// From after the final stop: nothing, ever.
		{"after stop", start + 9*sec, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.Cursor(owned, tc.from)
			got := collect(c, start+100*sec)
			want := brute(&p, owned, tc.from, start+100*sec)
			if !slices.Equal(got, want) {
				t.Fatalf("cursor %v\n want %v", got, want)
			}
			if len(got) != tc.fires {
				t.Fatalf("%d fires, want %d", len(got), tc.fires)
			}
			if len(got) > 0 && got[0].At < tc.first {
				t.Fatalf("first fire at %d, before %d", got[0].At, tc.first)
			}
			for _, f := range got {
				if r := p.RateAt(f.At); r == 0 {
					t.Fatalf("fire %+v during a pause", f)
				}
			}
			if _, ok := c.Next(); ok {
				t.Fatal("Next after the final stop returned a fire")
			}
			if _, ok := c.Peek(); ok {
				t.Fatal("Peek after the final stop returned a fire")
			}
		})
	}
}

func TestCursorSeekAndFollow(t *testing.T) {
	p := mustPlan(t, []Range{{0, 1000}}, 500)
	start := p.Segments[0].T
	owned := []Range{{100, 400}}
	c := p.Cursor(owned, start)
	// Peek does not move.
	a, _ := c.Peek()
	b, _ := c.Peek()
	n, _ := c.Next()
	if a != b || a != n {
		t.Fatalf("Peek %v %v, Next %v", a, b, n)
	}
	// A stall: skip to 2.5 s; the next fire is the first at or after it.
	c.SeekTo(start + 2500*int64(time.Millisecond))
	f, _ := c.Next()
	if want := brute(&p, owned, start+2500*int64(time.Millisecond), start+3*sec)[0]; f != want {
		t.Fatalf("after SeekTo: %v, want %v", f, want)
	}
	// SeekTo never goes back.
	c.SeekTo(start)
	if g, _ := c.Peek(); g.F <= f.F {
		t.Fatalf("SeekTo back returned fire %d again (last %d)", g.F, f.F)
	}
	// The plan gains a rate change in the future; the cursor follows it
	// without skipping or repeating a fire.
	q := p
	q.Segments = slices.Clone(p.Segments)
	if _, err := q.SetRate(2000, time.Unix(0, start+4*sec)); err != nil {
		t.Fatal(err)
	}
	if !c.Follow(&q) {
		t.Fatal("Follow refused the same users")
	}
	got := append([]Fire{f}, collect(c, start+6*sec)...)
	want := brute(&q, owned, f.At, start+6*sec)
	if !slices.Equal(got, want) {
		t.Fatalf("after Follow: %d fires, want %d", len(got), len(want))
	}
	// Different users: Follow refuses.
	r := mustPlan(t, []Range{{0, 999}}, 500)
	if c.Follow(&r) {
		t.Fatal("Follow accepted a plan over other users")
	}
}

func TestCursorMatchesBruteForce(t *testing.T) {
	// Property: over random small plans with random rate changes (pauses
	// included), random owned ranges and random start times, the cursor
	// yields exactly the global fire sequence filtered to its users.
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 300 {
		var users []Range
		lo := uint32(rng.IntN(50))
		for range 1 + rng.IntN(3) {
			hi := lo + 1 + uint32(rng.IntN(60))
			users = append(users, Range{lo, hi})
			lo = hi + uint32(rng.IntN(20))
		}
		rng.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
		p := mustPlan(t, users, rng.Int64N(200))
		at := time.Unix(0, p.Segments[0].T)
		for range rng.IntN(4) {
			at = at.Add(time.Duration(1+rng.IntN(3)) * time.Second)
			q := rng.Int64N(200)
			if rng.IntN(3) == 0 {
				q = 0
			}
			if _, err := p.SetRate(q, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		var owned []Range
		for range 1 + rng.IntN(3) {
			a := uint32(rng.IntN(300))
			owned = append(owned, Range{a, a + uint32(rng.IntN(80))})
		}
		from := p.Segments[0].T + rng.Int64N(8*sec) - sec
		until := p.Segments[0].T + 12*sec
		got := collect(p.Cursor(owned, from), until)
		want := brute(&p, owned, from, until)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: plan %+v owned %v from %d:\n got %d fires\nwant %d", trial, p, owned, from, len(got), len(want))
		}
	}
}

// brute lists every fire of the plan from `from` to `until` one global fire
// index at a time, keeping those of owned users: the definition, at O(Q).
func brute(p *Plan, owned []Range, from, until int64) []Fire {
	u := p.U()
	bySlot := make([]uint32, u)
	for i := range u {
		uid, _ := p.UID(i)
		bySlot[p.Slot(i)] = uid
	}
	var out []Fire
	for f := p.FirstFire(from); ; f++ {
		at, ok := p.FireAt(f)
		if !ok || at >= until {
			return out
		}
		if at < from {
			panic("FirstFire returned an earlier fire")
		}
		uid := bySlot[f%u]
		for _, o := range owned {
			if o.Contains(uid) {
				out = append(out, Fire{UID: uid, F: f, At: at})
				break
			}
		}
	}
}

func TestCursorMemory(t *testing.T) {
	// 60,000 owned users of a million: a few hundred KB.
	p := mustPlan(t, []Range{{0, 1_000_000}}, 1_000_000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := p.Cursor([]Range{{300_000, 360_000}}, p.Segments[0].T)
	runtime.ReadMemStats(&after)
	if c.Len() != 60_000 {
		t.Fatalf("cursor holds %d users", c.Len())
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 512<<10 {
		t.Fatalf("cursor allocated %d bytes for 60,000 users", n)
	}
}

func TestCursorEmpty(t *testing.T) {
	p := mustPlan(t, []Range{{0, 100}}, 100)
	// Owned users outside the plan: nothing to fire.
	c := p.Cursor([]Range{{500, 600}}, p.Segments[0].T)
	if _, ok := c.Next(); ok {
		t.Fatal("a cursor without users fired")
	}
	c.SeekTo(p.Segments[0].T + sec)
	if _, ok := c.Peek(); ok {
		t.Fatal("a cursor without users fired after SeekTo")
	}
}
