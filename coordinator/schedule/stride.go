package schedule

import "math"

// invPhi is 1/φ, φ the golden ratio.
const invPhi = 0.6180339887498949

// StrideWindow is how far from u/φ GoldenStride looks for a better stride.
const StrideWindow = 1024

// GoldenStride is the stride P of a plan over u users, so that
// slot = i*P mod u is a bijection that scatters contiguous blocks of users.
//
// The slots of indices a, a+1, ..., a+n-1 are the points a*P + j*P mod u, a
// rank-1 lattice; how evenly they cover the cycle (and so how evenly an
// agent holding a contiguous block fires) is governed by the partial
// quotients of the continued fraction of P/u: the smaller the largest one,
// the lower the discrepancy. 1/φ = [0; 1, 1, 1, ...] is the best of all
// numbers, but the integer nearest u/φ only keeps that prefix for about
// half the digits of u and may then hit a quotient in the hundreds, which
// shows as agents drifting from their share by dozens of fires a second.
// So among the P coprime to u within StrideWindow of u/φ, GoldenStride takes
// the one whose largest partial quotient is smallest (nearest u/φ on ties,
// the lower first); in practice that is 3 to 5 for any u from 10,000 up.
// Plans under 64*StrideWindow users search a window of u/64.
func GoldenStride(u int64) uint64 {
	if u <= 2 {
		return 1
	}
	n := uint64(u)
	c := uint64(math.Round(float64(u) * invPhi))
	best, bestQ := uint64(0), uint64(math.MaxUint64)
	try := func(p uint64) {
		if p == 0 || p >= n {
			return
		}
		if q, ok := maxQuotient(p, n); ok && q < bestQ {
			best, bestQ = p, q
		}
	}
	// Small plans get a window in proportion, so their stride stays near
	// u/φ; past the window, the nearest coprime will do.
	w := min(StrideWindow, n/64)
	for d := uint64(0); d <= w || best == 0; d++ {
		if d <= c {
			try(c - d)
		}
		try(c + d)
	}
	return best
}

// maxQuotient is the largest partial quotient of the continued fraction of
// p/n past the integer part, and whether p and n are coprime.
func maxQuotient(p, n uint64) (uint64, bool) {
	var m uint64
	a, b := n, p
	for b != 0 {
		if q := a / b; q > m {
			m = q
		}
		a, b = b, a%b
	}
	return m, a == 1
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
