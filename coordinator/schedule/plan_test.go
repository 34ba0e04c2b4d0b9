package schedule

import (
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestNewPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []Range
		q     int64
		want  error
	}{
		// The plan needs someone to fire.
		{"no users", nil, 10, ErrNoUsers},
		// Lo == Hi is an empty range: almost certainly a caller's bug.
		{"empty range", []Range{{5, 5}}, 10, ErrBadRange},
		// Lo > Hi is inverted.
		{"inverted range", []Range{{9, 5}}, 10, ErrBadRange},
		// A uid in two ranges would be two users firing on one connection.
		{"overlap", []Range{{0, 10}, {9, 20}}, 10, ErrOverlap},
		// Overlap is found whatever the order of the ranges.
		{"overlap unordered", []Range{{100, 200}, {0, 10}, {150, 160}}, 10, ErrOverlap},
		// A negative rate means nothing.
		{"negative rate", []Range{{0, 10}}, -1, ErrBadRate},
		// Above one fire a nanosecond the time math would overflow.
		{"rate above max", []Range{{0, 10}}, MaxRate + 1, ErrBadRate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPlan(1, tc.users, t0, tc.q); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewPlanStartRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start time.Time
		want  int64
	}{
		// A whole second stays.
		{"whole", t0, t0.UnixNano()},
		// One nanosecond past goes to the next second.
		{"1ns past", t0.Add(1), t0.UnixNano() + sec},
		// Just before a second goes to it.
		{"999ms past", t0.Add(999 * time.Millisecond), t0.UnixNano() + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(1, []Range{{0, 10}}, tc.start, 5)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Segments[0].T; got != tc.want {
				t.Fatalf("start %d, want %d", got, tc.want)
			}
			if p.Segments[0].F != 0 || p.Segments[0].Q != 5 {
				t.Fatalf("first segment %+v", p.Segments[0])
			}
		})
	}
}

func TestGoldenStride(t *testing.T) {
	for _, u := range []int64{1, 2, 3, 4, 5, 10, 100, 1000, 10_000, 65_536, 100_003, 1_000_000, 1_020_000, 1 << 32} {
		p := GoldenStride(u)
		if u > 2 && (p == 0 || p >= uint64(u)) {
			t.Errorf("u=%d: stride %d out of (0, u)", u, p)
		}
		if gcd(p, uint64(u)) != 1 {
			t.Errorf("u=%d: stride %d not coprime", u, p)
		}
		// Close to u/φ: within the search window.
		if u > 2 {
			if d := float64(p) - float64(u)*invPhi; d > StrideWindow+1 || d < -StrideWindow-1 {
				t.Errorf("u=%d: stride %d is %.0f from u/φ", u, p, d)
			}
		}
		// Small partial quotients are the point of the search.
		if q, _ := maxQuotient(p, uint64(u)); u >= 10_000 && q > 6 {
			t.Errorf("u=%d: stride %d has a partial quotient of %d", u, p, q)
		}
	}
}

func TestSlotIsBijection(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for range 20 {
		u := 1 + rng.Int64N(50_000)
		p := mustPlan(t, []Range{{3, 3 + uint32(u)}}, 1)
		seen := make([]bool, u)
		for i := range u {
			s := p.Slot(i)
			if s < 0 || s >= u || seen[s] {
				t.Fatalf("u=%d: slot %d of %d repeated or out of range", u, s, i)
			}
			seen[s] = true
		}
	}
}

func TestIndexAndUID(t *testing.T) {
	// Ranges out of uid order: the order given numbers the users.
	p := mustPlan(t, []Range{{100, 110}, {0, 5}, {50, 52}}, 1)
	if p.U() != 17 {
		t.Fatalf("U = %d", p.U())
	}
	for _, tc := range []struct {
		uid uint32
		i   int64
		ok  bool
	}{
		{100, 0, true},  // first of the first range
		{109, 9, true},  // last of the first range
		{0, 10, true},   // second range continues the numbering
		{51, 16, true},  // last user
		{110, 0, false}, // Hi is excluded
		{7, 0, false},   // in a gap
	} {
		i, ok := p.Index(tc.uid)
		if ok != tc.ok || (ok && i != tc.i) {
			t.Errorf("Index(%d) = %d, %v; want %d, %v", tc.uid, i, ok, tc.i, tc.ok)
		}
		if ok {
			if uid, ok := p.UID(i); !ok || uid != tc.uid {
				t.Errorf("UID(%d) = %d, %v", i, uid, ok)
			}
		}
	}
	if _, ok := p.UID(17); ok {
		t.Error("UID(U) found a user")
	}
	if _, ok := p.UID(-1); ok {
		t.Error("UID(-1) found a user")
	}
}

func TestSetRate(t *testing.T) {
	p := mustPlan(t, []Range{{0, 1000}}, 300)
	id := p.ID
	// 2.5 s after start rounds up to 3 s: 3 s of 300 fires have gone.
	s, err := p.SetRate(500, t0.Add(2500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Segment{T: t0.UnixNano() + 3*sec, F: 900, Q: 500}); s != want {
		t.Fatalf("segment %+v, want %+v", s, want)
	}
	if p.ID != id {
		t.Fatalf("ID %d changed to %d", id, p.ID)
	}
	// Same second again: not after the last segment.
	if _, err := p.SetRate(10, t0.Add(2100*time.Millisecond)); !errors.Is(err, ErrNotAfter) {
		t.Fatalf("err = %v, want ErrNotAfter", err)
	}
	if _, err := p.SetRate(-5, t0.Add(10*time.Second)); !errors.Is(err, ErrBadRate) {
		t.Fatalf("err = %v, want ErrBadRate", err)
	}
	if len(p.Segments) != 2 {
		t.Fatalf("failed calls changed the plan: %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t    int64
		rate int64
	}{
		{t0.UnixNano() - 1, 0},           // before the start
		{t0.UnixNano(), 300},             // the start
		{t0.UnixNano() + 3*sec - 1, 300}, // last ns of the first segment
		{t0.UnixNano() + 3*sec, 500},     // the switch
	} {
		if got := p.RateAt(tc.t); got != tc.rate {
			t.Errorf("RateAt(%d) = %d, want %d", tc.t, got, tc.rate)
		}
		if tc.t%sec == 0 {
			if got := p.FiresIn(tc.t / sec); got != tc.rate {
				t.Errorf("FiresIn(%d) = %d, want %d", tc.t/sec, got, tc.rate)
			}
		}
	}
}

func TestPlanJSON(t *testing.T) {
	p := mustPlan(t, []Range{{10, 20}, {0, 5}}, 7)
	if _, err := p.SetRate(0, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetRate(9, t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":1,"users":[{"lo":10,"hi":20},{"lo":0,"hi":5}],"stride":8,` +
		`"segments":[{"t":1770000000000000000,"f":0,"q":7},{"t":1770000003000000000,"f":21,"q":0},` +
		`{"t":1770000005000000000,"f":21,"q":9}]}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v != %+v", back, p)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	good := func() Plan {
		p := mustPlan(t, []Range{{0, 100}}, 10)
		if _, err := p.SetRate(20, t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		break_ func(*Plan)
		want   error
	}{
		// A stride sharing a factor with U maps two users to one slot.
		{"stride not coprime", func(p *Plan) { p.Stride = 10 }, ErrBadStride},
		// Stride 0 sends everyone to slot 0.
		{"stride zero", func(p *Plan) { p.Stride = 0 }, ErrBadStride},
		{"no segments", func(p *Plan) { p.Segments = nil }, ErrBadPlan},
		// Segments must start on whole seconds so every second is exact.
		{"start not whole", func(p *Plan) { p.Segments[0].T += 5 }, ErrBadPlan},
		// A rate change must continue the fire sequence: no skipped fires.
		{"fire gap", func(p *Plan) { p.Segments[1].F++ }, ErrBadPlan},
		{"out of order", func(p *Plan) { p.Segments[1].T = p.Segments[0].T }, ErrBadPlan},
		{"bad rate", func(p *Plan) { p.Segments[1].Q = -1 }, ErrBadRate},
		{"overlapping users", func(p *Plan) { p.Users = append(p.Users, Range{50, 150}) }, ErrOverlap},
		{"no users", func(p *Plan) { p.Users = nil }, ErrNoUsers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			if err := p.Validate(); err != nil {
				t.Fatalf("good plan: %v", err)
			}
			tc.break_(&p)
			if err := p.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFireTimeExact(t *testing.T) {
	// Thirty days into a plan, at rates up to MaxRate, times are still exact
	// to the nanosecond and fire f's second is f's block of Q.
	rng := rand.New(rand.NewPCG(3, 4))
	start := t0.UnixNano() + 30*24*3600*sec
	for _, q := range []int64{1, 3, 7, 1000, 9_999_999, 10_000_000, 123_456_789, MaxRate} {
		s := Segment{T: start, F: 5_000_000_000, Q: q}
		for range 2000 {
			k := rng.Int64N(30 * 24 * 3600 * q)
			f := s.F + k
			at := s.At(f)
			// Exact: at - T = floor(k * 1e9 / Q), checked in big integers.
			want := new(big.Int).Mul(big.NewInt(k), big.NewInt(sec))
			want.Quo(want, big.NewInt(q))
			if want.Int64() != at-s.T {
				t.Fatalf("q=%d k=%d: at-T=%d, want %s", q, k, at-s.T, want)
			}
			if (at-s.T)/sec != k/q {
				t.Fatalf("q=%d k=%d: fire in second %d, want %d", q, k, (at-s.T)/sec, k/q)
			}
			if got := s.first(at); got != f {
				t.Fatalf("q=%d: first(At(%d)) = %d", q, f, got)
			}
			if got := s.first(at + 1); got != f+1 {
				t.Fatalf("q=%d: first(At(%d)+1) = %d", q, f, got)
			}
		}
	}
}
