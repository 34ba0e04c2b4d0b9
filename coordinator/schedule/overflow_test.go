package schedule

import (
	"errors"
	"math"
	"testing"
	"time"
)

// A rate change whose fire number would not fit an int64 is refused,
// never wrapped to a negative fire number, and leaves the plan as it was.
func TestSetRateOverflowRefused(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	p, err := NewPlan(1, []Range{{Lo: 0, Hi: 10}}, start, MaxRate)
	if err != nil {
		t.Fatal(err)
	}
	// Time alone cannot overflow (a span of int64 nanoseconds at one fire a
	// nanosecond fits), but a fire number carried far along can.
	p.Segments[0].F = math.MaxInt64 - 10
	if _, err := p.SetRate(1, start.Add(time.Second)); !errors.Is(err, ErrOverflow) {
		t.Fatalf("err %v, want ErrOverflow", err)
	}
	if len(p.Segments) != 1 {
		t.Fatalf("segments %+v after a refused change", p.Segments)
	}
	for _, q := range []int64{-1, MaxRate + 1, 1e12, 9e18} {
		if _, err := p.SetRate(q, start.Add(time.Second)); !errors.Is(err, ErrBadRate) {
			t.Fatalf("rate %d: err %v, want ErrBadRate", q, err)
		}
		if err := CheckRate(q); !errors.Is(err, ErrBadRate) {
			t.Fatalf("CheckRate(%d) = %v", q, err)
		}
	}
	// A plan received with a wrapped fire number is invalid.
	bad := Plan{ID: 1, Users: []Range{{Lo: 0, Hi: 10}}, Stride: 1, Segments: []Segment{
		{T: 1_800_000_000e9, F: math.MaxInt64 - 10, Q: MaxRate},
		{T: 1_800_000_001e9, F: math.MinInt64 + 10, Q: 1},
	}}
	if err := bad.Validate(); err == nil {
		t.Fatal("a wrapped plan validated")
	}
}
