package report

import (
	"math"
	"strings"
	"testing"
)

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		hi   float64
		want []float64
	}{
		{630, []float64{0, 200, 400, 600, 800}},      // a 600/s phase plus headroom
		{1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},     // small values keep decimals
		{3150, []float64{0, 1000, 2000, 3000, 4000}}, // never more than about six intervals
	} {
		got := niceTicks(0, tc.hi, 6)
		if len(got) != len(tc.want) {
			t.Errorf("niceTicks(0, %g) = %v, want %v", tc.hi, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("niceTicks(0, %g) = %v, want %v", tc.hi, got, tc.want)
				break
			}
		}
	}
}

func TestClock(t *testing.T) {
	for sec, want := range map[float64]string{0: "0:00", 59.6: "1:00", 600: "10:00", 3725: "1:02:05", -5: "-0:05"} {
		if got := clock(sec); got != want {
			t.Errorf("clock(%g) = %q, want %q", sec, got, want)
		}
	}
}

// A per-second series holds each value over its second and breaks at a
// missing second.
func TestStepPath(t *testing.T) {
	c := &Chart{X0: 0, X1: 10}
	s := Series{Step: true, X: []float64{0, 1, 2, 3}, Y: []float64{1, 2, math.NaN(), 4}}
	sx := func(x float64) float64 { return x * 10 }
	sy := func(y float64) float64 { return y }
	got := c.path(&s, sx, sy, 0, 10)
	want := "M0.0 1.0H10.0V2.0H20.0M30.0 4.0H40.0"
	if got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

// Labels of close phase changes go on separate rows.
func TestMarkerRows(t *testing.T) {
	c := &Chart{Name: "x", X0: 0, X1: 100, Markers: []Marker{{X: 10, Label: "dead h03"}, {X: 11, Label: "replan"}, {X: 80, Label: "qps 0"}}}
	rows, n := c.labelLayout(func(x float64) float64 { return x * 10 })
	if n != 2 || rows[0] != 0 || rows[1] != 1 || rows[2] != 0 {
		t.Errorf("rows %v (%d), want 0, 1, 0 over 2 rows", rows, n)
	}
	if svg := string(c.SVG()); !strings.Contains(svg, ">no data<") {
		t.Error("a chart without series does not say so")
	}
}
