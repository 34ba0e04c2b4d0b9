package clock

import "testing"

// BenchmarkNow: the per-fire cost of reading the coordinator's time.
func BenchmarkNow(b *testing.B) {
	c := New("127.0.0.1:1")
	b.ReportAllocs()
	var sink int64
	for i := 0; i < b.N; i++ {
		sink += c.Now()
	}
	_ = sink
}
