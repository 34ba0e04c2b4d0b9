package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
)

// t0 is a plan start used across tests: a whole second, well after 1970 so
// that the fire-time math runs on realistic magnitudes.
var t0 = time.Unix(1_770_000_000, 0)

const sec = int64(time.Second)

func mustPlan(t testing.TB, users []Range, q int64) Plan {
	t.Helper()
	p, err := NewPlan(1, users, t0, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// split cuts the uid range [lo, lo+u) into n contiguous agent ranges at
// random points, each at least minLen long.
func split(rng *rand.Rand, lo uint32, u int64, n int, minLen int64) []Range {
	free := u - int64(n)*minLen
	cuts := make([]int64, n-1)
	for k := range cuts {
		cuts[k] = rng.Int64N(free + 1)
	}
	sortInt64(cuts)
	out := make([]Range, n)
	prev := int64(0)
	for k := 0; k < n; k++ {
		end := free
		if k < n-1 {
			end = cuts[k]
		}
		a := prev + int64(k)*minLen
		b := end + int64(k+1)*minLen
		out[k] = Range{Lo: lo + uint32(a), Hi: lo + uint32(b)}
		prev = end
	}
	return out
}

func sortInt64(s []int64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// collect returns every fire of c with At < until.
func collect(c *Cursor, until int64) []Fire {
	var out []Fire
	for {
		f, ok := c.Peek()
		if !ok || f.At >= until {
			return out
		}
		c.Next()
		out = append(out, f)
	}
}

// perSecond counts fires per whole second from start for n seconds.
func perSecond(fires []Fire, start int64, n int) []int64 {
	out := make([]int64, n)
	for _, f := range fires {
		k := (f.At - start) / sec
		if f.At >= start && k < int64(n) {
			out[k]++
		}
	}
	return out
}
