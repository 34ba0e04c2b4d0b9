package server

import "math/rand/v2"

// NextShare is the double-mean split: the share of the next opener of an
// envelope with remaining cents left for left openers (left >= 1,
// remaining >= left). The last opener gets exactly the rest; any other
// gets a uniform amount in [1, 2*remaining/left], capped so that every
// opener after it still gets at least 1 cent.
func NextShare(rng *rand.Rand, remaining, left uint32) uint32 {
	if left <= 1 {
		return remaining
	}
	hi := 2 * uint64(remaining) / uint64(left)
	if limit := uint64(remaining - (left - 1)); hi > limit {
		hi = limit
	}
	if hi <= 1 {
		return 1
	}
	return 1 + uint32(rng.Uint64N(hi))
}
