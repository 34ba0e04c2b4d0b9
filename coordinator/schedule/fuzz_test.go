package schedule

import (
	"encoding/json"
	"testing"
)

// FuzzPlan decodes plans as an agent receives them: whatever passes
// Validate must yield a cursor that walks fires in order without
// panicking.
func FuzzPlan(f *testing.F) {
	p, _ := NewPlan(3, []Range{{10, 20}, {0, 5}}, t0, 7)
	p.SetRate(0, t0.Add(2e9))
	p.SetRate(30, t0.Add(4e9))
	b, _ := json.Marshal(p)
	f.Add(b, uint32(0), uint32(30), int64(0))
	f.Add([]byte(`{"id":1,"users":[{"lo":0,"hi":1}],"stride":1,"segments":[{"t":0,"f":0,"q":1000000000}]}`),
		uint32(0), uint32(1), int64(-5))
	f.Add([]byte(`{"users":[{"lo":4294967290,"hi":4294967295}],"stride":3,"segments":[{"t":1000000000,"f":9,"q":3}]}`),
		uint32(4294967291), uint32(4294967295), int64(7e9))
	f.Fuzz(func(t *testing.T, data []byte, lo, hi uint32, from int64) {
		var p Plan
		if json.Unmarshal(data, &p) != nil || p.Validate() != nil || p.U() > 4096 {
			return
		}
		if len(p.Segments) > 0 && (from < p.Segments[0].T-1e12 || from > p.Segments[0].T+1e12) {
			from = p.Segments[0].T // keep times where int64 math is meaningful
		}
		c := p.Cursor([]Range{{lo, hi}}, from)
		last := Fire{F: -1, At: from}
		for range 200 {
			fire, ok := c.Next()
			if !ok {
				break
			}
			if fire.F <= last.F || fire.At < last.At {
				t.Fatalf("fire %+v after %+v", fire, last)
			}
			if fire.UID < lo || fire.UID >= hi {
				t.Fatalf("fire %+v of a user not owned [%d, %d)", fire, lo, hi)
			}
			i, ok := p.Index(fire.UID)
			if !ok || p.Slot(i) != fire.F%p.U() {
				t.Fatalf("fire %+v of the wrong slot", fire)
			}
			last = fire
		}
	})
}
