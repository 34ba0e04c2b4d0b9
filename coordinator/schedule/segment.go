package schedule

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"
)

// Segment: from fire index F on, at time T (Unix ns, a whole second), Q
// fires per second. Fire f >= F happens at T + (f-F)/Q seconds, rounded
// down to the nanosecond, and belongs to slot f mod U. Fires F+n*Q up to
// F+(n+1)*Q-1 are exactly the fires of second n after T.
type Segment struct {
	T int64 `json:"t"`
	F int64 `json:"f"`
	Q int64 `json:"q"`
}

const nsPerSec = int64(time.Second)

// At is the intended time of fire f >= s.F, in Unix ns. Quotient and
// remainder keep every product below 2^63 for Q up to MaxRate over any
// span int64 nanoseconds can hold.
func (s Segment) At(f int64) int64 {
	k := f - s.F
	return s.T + k/s.Q*nsPerSec + k%s.Q*nsPerSec/s.Q
}

// first is the first fire index whose time is at or after t, for t >= s.T:
// the least k with floor(k*1e9/Q) >= t-T, that is k >= ceil((t-T)*Q/1e9).
func (s Segment) first(t int64) int64 {
	if s.Q == 0 {
		return s.F
	}
	d := t - s.T
	whole, frac := d/nsPerSec, d%nsPerSec
	return s.F + whole*s.Q + (frac*s.Q+nsPerSec-1)/nsPerSec
}

// end is the first fire index of a segment that would follow s at time t,
// a whole second after s.T: exactly (t-T) seconds of Q fires. It fails
// rather than wrap when that count does not fit an int64.
func (s Segment) end(t int64) (int64, error) {
	secs := (t - s.T) / nsPerSec
	if secs < 0 || s.Q < 0 || s.F < 0 {
		return 0, fmt.Errorf("%w: segment at %d, fire %d, rate %d, to %d", ErrOverflow, s.T, s.F, s.Q, t)
	}
	hi, n := bits.Mul64(uint64(secs), uint64(s.Q))
	sum, carry := bits.Add64(n, uint64(s.F), 0)
	if hi != 0 || carry != 0 || sum > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %d s at %d/s after fire %d", ErrOverflow, secs, s.Q, s.F)
	}
	return int64(sum), nil
}

// SetRate makes q the rate from at, rounded up to a whole second, on: it
// appends a segment that continues the fire sequence exactly where the last
// one stands at that instant. The ID is the caller's to manage: a rate
// change keeps the user numbering, so agents may Follow it in place.
func (p *Plan) SetRate(q int64, at time.Time) (Segment, error) {
	if err := checkRate(q); err != nil {
		return Segment{}, err
	}
	if len(p.Segments) == 0 {
		return Segment{}, fmt.Errorf("%w: plan has no segments", ErrBadPlan)
	}
	last := p.Segments[len(p.Segments)-1]
	t := ceilSecond(at.UnixNano())
	if t <= last.T {
		return Segment{}, fmt.Errorf("%w: %s is not after %s", ErrNotAfter,
			time.Unix(0, t).UTC().Format(time.RFC3339), time.Unix(0, last.T).UTC().Format(time.RFC3339))
	}
	f, err := last.end(t)
	if err != nil {
		return Segment{}, err
	}
	s := Segment{T: t, F: f, Q: q}
	p.Segments = append(p.Segments, s)
	return s, nil
}

// segmentAt is the index of the segment in force at time t, -1 before the
// plan starts.
func segmentAt(segs []Segment, t int64) int {
	return sort.Search(len(segs), func(k int) bool { return segs[k].T > t }) - 1
}

// RateAt is the rate Q in force at time t (Unix ns); 0 before the plan
// starts.
func (p *Plan) RateAt(t int64) int64 {
	k := segmentAt(p.Segments, t)
	if k < 0 {
		return 0
	}
	return p.Segments[k].Q
}

// FiresIn is the number of fires over all users in the whole second
// [sec, sec+1), sec in Unix seconds. Segments start on whole seconds, so
// this is the rate in force during that second.
func (p *Plan) FiresIn(sec int64) int64 {
	return p.RateAt(sec * nsPerSec)
}

// FireAt is the intended time of global fire index f, false if f is before
// the plan's start or is never reached (the rate drops to 0 before it).
func (p *Plan) FireAt(f int64) (int64, bool) {
	k := sort.Search(len(p.Segments), func(k int) bool { return p.Segments[k].F > f }) - 1
	if k < 0 || p.Segments[k].Q == 0 {
		return 0, false
	}
	// A segment with Q = 0 followed by another shares its F, so the search
	// above lands on the later one; only a final Q = 0 stops the sequence.
	return p.Segments[k].At(f), true
}

// FirstFire is the index of the first fire at or after time t. Fires before
// it all happen before t; if the rate is 0 from t on, no fire has it.
func (p *Plan) FirstFire(t int64) int64 {
	segs := p.Segments
	k := segmentAt(segs, t)
	if k < 0 {
		if len(segs) == 0 {
			return 0
		}
		return segs[0].F
	}
	return segs[k].first(t)
}
