package server

import (
	"math/rand/v2"
	"testing"
)

// TestSharesProperty splits 100,000 random envelopes: every share is at
// least 1 cent and the shares sum exactly to the amount, for 1..3
// recipients and amounts from the recipient count up to large ones.
func TestSharesProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100_000; i++ {
		n := uint32(1 + rng.IntN(3))
		var amount uint32
		switch rng.IntN(3) {
		case 0: // the tightest: one cent per recipient, or just above
			amount = n + uint32(rng.IntN(3))
		case 1: // the default range
			amount = max(n, 10+uint32(rng.IntN(300)))
		default: // large
			amount = max(n, uint32(rng.Int64N(MaxAmount)+1))
		}
		remaining := amount
		var sum uint32
		for left := n; left >= 1; left-- {
			s := NextShare(rng, remaining, left)
			if s < 1 || s > remaining-(left-1) {
				t.Fatalf("amount %d n %d: share %d with %d left for %d openers", amount, n, s, remaining, left)
			}
			if left > 1 && s > 2*remaining/left && 2*remaining/left >= 1 {
				t.Fatalf("share %d above double mean %d", s, 2*remaining/left)
			}
			remaining -= s
			sum += s
		}
		if sum != amount || remaining != 0 {
			t.Fatalf("amount %d n %d: shares sum to %d", amount, n, sum)
		}
	}
}

func TestSendTableOpen(t *testing.T) {
	var tb sendTable
	tb.m = map[uint32]*sent{}
	tb.add(1, 3, []uint32{4, 5, 6})
	rng := rand.New(rand.NewPCG(3, 4))
	var sum uint32
	for _, u := range []uint32{6, 4, 5} {
		s, first := tb.open(1, u, rng)
		if !first || s != 1 {
			t.Fatalf("uid %d: %d first=%v (3 cents for 3 must be 1 each)", u, s, first)
		}
		sum += s
	}
	if s, first := tb.open(1, 4, rng); s != 1 || first {
		t.Fatalf("repeat: %d %v", s, first)
	}
	if s, _ := tb.open(1, 7, rng); s != 0 {
		t.Fatal("non-recipient paid")
	}
	if s, _ := tb.open(2, 4, rng); s != 0 {
		t.Fatal("unknown envelope paid")
	}
	if tb.opened.Load() != 3 || tb.openedAmount.Load() != 3 {
		t.Fatalf("opened %d %d", tb.opened.Load(), tb.openedAmount.Load())
	}
}

func BenchmarkNextShare(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		NextShare(rng, 300, 3)
	}
}
