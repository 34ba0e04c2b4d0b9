package schedule

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Range is a half-open uid range [Lo, Hi).
type Range struct {
	Lo uint32 `json:"lo"`
	Hi uint32 `json:"hi"`
}

// Len is the number of uids in r.
func (r Range) Len() int64 { return int64(r.Hi) - int64(r.Lo) }

// Contains reports whether uid is in r.
func (r Range) Contains(uid uint32) bool { return uid >= r.Lo && uid < r.Hi }

// Plan is what the coordinator hands every agent. The users of the plan are
// the uids of Users in order: user index i is the position of a uid in the
// concatenation of the ranges, and the user's slot is Slot(i).
//
// A Plan is a plain value: it is safe to copy and to read from many
// goroutines, and must not be modified while a goroutine reads it.
type Plan struct {
	ID       uint64    `json:"id"`       // the coordinator bumps it on every new plan (a rate change keeps it); agents ignore older ids
	Users    []Range   `json:"users"`    // disjoint, in the order that numbers the users
	Stride   uint64    `json:"stride"`   // P: slot = index*P mod U, P coprime to U
	Segments []Segment `json:"segments"` // ordered by T, first one is the plan's start
}

// Errors callers test for.
var (
	ErrNoUsers   = errors.New("schedule: plan has no users")
	ErrBadRange  = errors.New("schedule: empty or inverted uid range")
	ErrOverlap   = errors.New("schedule: uid ranges overlap")
	ErrBadRate   = errors.New("schedule: rate out of range")
	ErrNotAfter  = errors.New("schedule: rate change not after the last segment")
	ErrBadStride = errors.New("schedule: stride not coprime to the number of users")
	ErrBadPlan   = errors.New("schedule: inconsistent segments")
	ErrOverflow  = errors.New("schedule: fire count out of range")
)

// MaxRate is the highest rate a segment may have: one fire a nanosecond.
// It keeps every product in the fire-time math inside int64.
const MaxRate = int64(time.Second)

// NewPlan returns a plan over users firing q times a second from start,
// rounded up to a whole second. The stride is chosen with GoldenStride.
func NewPlan(id uint64, users []Range, start time.Time, q int64) (Plan, error) {
	if err := checkUsers(users); err != nil {
		return Plan{}, err
	}
	if err := checkRate(q); err != nil {
		return Plan{}, err
	}
	u := countUsers(users)
	return Plan{
		ID:       id,
		Users:    slices.Clone(users),
		Stride:   GoldenStride(u),
		Segments: []Segment{{T: ceilSecond(start.UnixNano()), F: 0, Q: q}},
	}, nil
}

// U is the number of users in the plan.
func (p *Plan) U() int64 { return countUsers(p.Users) }

// Slot is the permutation of user indices: the slot of user index i in
// [0, U). Contiguous indices land on slots spread over the whole cycle.
func (p *Plan) Slot(i int64) int64 {
	return slotOf(uint64(i), p.Stride, uint64(p.U()))
}

// slotOf is i*stride mod u. Every value is below 2^32, so the product fits.
func slotOf(i, stride, u uint64) int64 { return int64(i * stride % u) }

// Index is the user index of uid in the plan, false if uid is not a user.
func (p *Plan) Index(uid uint32) (int64, bool) {
	var base int64
	for _, r := range p.Users {
		if r.Contains(uid) {
			return base + int64(uid-r.Lo), true
		}
		base += r.Len()
	}
	return 0, false
}

// UID is the uid of user index i, false if i is not in [0, U).
func (p *Plan) UID(i int64) (uint32, bool) {
	if i < 0 {
		return 0, false
	}
	for _, r := range p.Users {
		if i < r.Len() {
			return r.Lo + uint32(i), true
		}
		i -= r.Len()
	}
	return 0, false
}

// Validate checks a plan received from elsewhere: disjoint non-empty ranges,
// a stride coprime to U, and segments that continue each other exactly.
func (p *Plan) Validate() error {
	if err := checkUsers(p.Users); err != nil {
		return err
	}
	u := uint64(p.U())
	if p.Stride == 0 || (u > 1 && p.Stride >= u) || gcd(p.Stride, u) != 1 {
		return fmt.Errorf("%w: stride %d, %d users", ErrBadStride, p.Stride, u)
	}
	if len(p.Segments) == 0 {
		return fmt.Errorf("%w: no segments", ErrBadPlan)
	}
	for k, s := range p.Segments {
		if err := checkRate(s.Q); err != nil {
			return fmt.Errorf("segment %d: %w", k, err)
		}
		if s.T%int64(time.Second) != 0 {
			return fmt.Errorf("%w: segment %d starts at %d, not a whole second", ErrBadPlan, k, s.T)
		}
		if k == 0 {
			if s.F < 0 {
				return fmt.Errorf("%w: first fire index %d is negative", ErrBadPlan, s.F)
			}
			continue
		}
		prev := p.Segments[k-1]
		if s.T <= prev.T {
			return fmt.Errorf("%w: segment %d at %d not after %d", ErrBadPlan, k, s.T, prev.T)
		}
		want, err := prev.end(s.T)
		if err != nil {
			return fmt.Errorf("segment %d: %w", k, err)
		}
		if s.F != want {
			return fmt.Errorf("%w: segment %d starts at fire %d, want %d", ErrBadPlan, k, s.F, want)
		}
	}
	return nil
}

func checkUsers(users []Range) error {
	if len(users) == 0 {
		return ErrNoUsers
	}
	sorted := slices.Clone(users)
	slices.SortFunc(sorted, func(a, b Range) int { return cmp.Compare(a.Lo, b.Lo) })
	for k, r := range sorted {
		if r.Lo >= r.Hi {
			return fmt.Errorf("%w: [%d, %d)", ErrBadRange, r.Lo, r.Hi)
		}
		if k > 0 && r.Lo < sorted[k-1].Hi {
			return fmt.Errorf("%w: [%d, %d) and [%d, %d)", ErrOverlap,
				sorted[k-1].Lo, sorted[k-1].Hi, r.Lo, r.Hi)
		}
	}
	return nil
}

// CheckRate says whether q is a rate a segment may have: 0 to MaxRate.
func CheckRate(q int64) error { return checkRate(q) }

func checkRate(q int64) error {
	if q < 0 || q > MaxRate {
		return fmt.Errorf("%w: %d per second (0 to %d)", ErrBadRate, q, MaxRate)
	}
	return nil
}

func countUsers(users []Range) int64 {
	var n int64
	for _, r := range users {
		n += r.Len()
	}
	return n
}

// ceilSecond rounds Unix nanoseconds up to a whole second.
func ceilSecond(t int64) int64 {
	const s = int64(time.Second)
	q := t / s
	if t%s > 0 {
		q++
	}
	return q * s
}
