package coordinator

import (
	"errors"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		users int
		caps  []int
		want  []int // users per agent
	}{
		// equal capacities, even split
		{3000, []int{60000, 60000, 60000}, []int{1000, 1000, 1000}},
		// remainder goes to the first agents with room
		{10, []int{5, 5, 5}, []int{4, 3, 3}},
		// in proportion to capacity
		{300, []int{100, 200}, []int{100, 200}},
		// exactly full
		{7, []int{3, 4}, []int{3, 4}},
		// a full agent gets no remainder
		{6, []int{1, 100}, []int{1, 5}},
		// no users
		{0, []int{3}, []int{0}},
	}
	for _, tt := range tests {
		rs, err := Split(tt.users, tt.caps)
		if err != nil {
			t.Fatalf("Split(%d, %v): %v", tt.users, tt.caps, err)
		}
		lo := uint32(0)
		for i, r := range rs {
			if r.Lo != lo || int(r.Hi-r.Lo) != tt.want[i] {
				t.Errorf("Split(%d, %v)[%d] = %v, want %d users from %d", tt.users, tt.caps, i, r, tt.want[i], lo)
			}
			if int(r.Hi-r.Lo) > tt.caps[i] {
				t.Errorf("Split(%d, %v)[%d] = %v above capacity", tt.users, tt.caps, i, r)
			}
			lo = r.Hi
		}
		if int(lo) != tt.users {
			t.Errorf("Split(%d, %v) covers %d users", tt.users, tt.caps, lo)
		}
	}
}

func TestSplitShortfall(t *testing.T) {
	_, err := Split(200, []int{50, 100})
	var ce *CapacityError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCapacity) {
		t.Fatalf("err = %v, want a CapacityError", err)
	}
	if ce.Users-ce.Capacity != 50 {
		t.Fatalf("shortfall %d, want 50", ce.Users-ce.Capacity)
	}
}

func TestSplitExact(t *testing.T) {
	for _, tc := range [][2]int{{40000, 3}, {7, 3}, {2, 5}, {200, 1}} {
		parts := splitExact(tc[0], tc[1])
		sum := 0
		for _, p := range parts {
			sum += p
		}
		if sum != tc[0] || len(parts) != tc[1] {
			t.Errorf("splitExact(%d, %d) = %v", tc[0], tc[1], parts)
		}
	}
}
