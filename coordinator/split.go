package coordinator

import (
	"errors"
	"fmt"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// ErrCapacity is returned when the users asked for exceed what the live
// agents can hold.
var ErrCapacity = errors.New("not enough agent capacity")

// CapacityError says by how much a connect exceeds the live agents'
// capacity.
type CapacityError struct {
	Users, Capacity, Agents int
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("%s: %d users asked, %d live agents hold at most %d: %d users short",
		ErrCapacity, e.Users, e.Agents, e.Capacity, e.Users-e.Capacity)
}

func (e *CapacityError) Unwrap() error { return ErrCapacity }

// Split divides uids [0, users) into contiguous ranges, one per capacity,
// in proportion to capacity (largest remainders first), never above a
// capacity. Counts sum to users exactly.
//
// Users are at most api.MaxUsers and capacities at most api.MaxCapacity,
// so every product and sum below is exact in int64.
func Split(users int, capacities []int) ([]schedule.Range, error) {
	if users > api.MaxUsers {
		return nil, fmt.Errorf("users: %d is more than %d", users, api.MaxUsers)
	}
	total := 0
	for _, c := range capacities {
		if c < 0 || c > api.MaxCapacity {
			return nil, fmt.Errorf("capacity %d not in 0..%d", c, api.MaxCapacity)
		}
		total += c
	}
	if users > total {
		return nil, &CapacityError{Users: users, Capacity: total, Agents: len(capacities)}
	}
	counts := make([]int, len(capacities))
	if users <= 0 {
		return make([]schedule.Range, len(capacities)), nil
	}
	given := 0
	for i, c := range capacities {
		counts[i] = int(int64(users) * int64(c) / int64(total))
		given += counts[i]
	}
	// Hand out what floor division left, one each, to agents with room.
	for i := 0; given < users; i = (i + 1) % len(counts) {
		if counts[i] < capacities[i] {
			counts[i]++
			given++
		}
	}
	out := make([]schedule.Range, len(counts))
	lo := uint32(0)
	for i, n := range counts {
		out[i] = schedule.Range{Lo: lo, Hi: lo + uint32(n)}
		lo += uint32(n)
	}
	return out, nil
}

// splitExact divides total into n parts whose sum is exactly total, the
// first total%n parts one larger.
func splitExact(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}
