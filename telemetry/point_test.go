package telemetry

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestNewPointSortsTags(t *testing.T) {
	in := []Tag{{"role", "agent"}, {"host", "h01"}, {"cmd", "shake"}, {"host", "h02"}}
	p := NewPoint(MeasRequests, in, []Field{Int("sent", 1)}, time.Unix(1, 0))
	want := []Tag{{"cmd", "shake"}, {"host", "h02"}, {"role", "agent"}}
	if !slices.Equal(p.Tags, want) {
		t.Fatalf("tags %v, want %v", p.Tags, want)
	}
	if in[0].Key != "role" {
		t.Fatal("NewPoint reordered the caller's slice")
	}
	if v, ok := p.Tag("host"); !ok || v != "h02" {
		t.Fatalf("Tag(host) = %q %v", v, ok)
	}
	if _, ok := p.Tag("nope"); ok {
		t.Fatal("found a missing tag")
	}
	if !slices.Equal(Tags("b", "2", "a", "1", "dangling"), []Tag{{"a", "1"}, {"b", "2"}}) {
		t.Fatal("Tags helper")
	}
}

func TestSetTagCopies(t *testing.T) {
	shared := Tags("interface", "lo")
	p1 := Point{Measurement: "net", Tags: shared}
	p2 := Point{Measurement: "net", Tags: shared}
	p1.SetTag("host", "h01")
	p2.SetTag("host", "h02")
	if len(shared) != 1 {
		t.Fatal("SetTag changed the shared slice")
	}
	if h, _ := p1.Tag("host"); h != "h01" {
		t.Fatalf("p1 host %q", h)
	}
	if h, _ := p2.Tag("host"); h != "h02" {
		t.Fatalf("p2 host %q", h)
	}
	if p1.Tags[0].Key != "host" || p1.Tags[1].Key != "interface" {
		t.Fatalf("unsorted %v", p1.Tags)
	}
}

func TestFieldKinds(t *testing.T) {
	for _, tc := range []struct {
		f    Field
		kind Kind
		any  any
	}{
		{Int("a", -3), KindInt, int64(-3)},
		// An unsigned counter becomes an int64: InfluxDB 1.8 has no unsigned type.
		{Uint("b", 42), KindInt, int64(42)},
		// Past MaxInt64 it saturates instead of wrapping negative.
		{Uint("c", math.MaxUint64), KindInt, int64(math.MaxInt64)},
		{Float("d", 1.5), KindFloat, 1.5},
		{String("e", "x"), KindString, "x"},
		{Bool("f", true), KindBool, true},
		{Bool("g", false), KindBool, false},
	} {
		if tc.f.Value.Kind() != tc.kind || tc.f.Value.Any() != tc.any {
			t.Errorf("%s: kind %v value %v, want %v %v", tc.f.Key, tc.f.Value.Kind(), tc.f.Value.Any(), tc.kind, tc.any)
		}
	}
	if (Value{}).Any() != nil || (Value{}).Kind().String() != "invalid" {
		t.Error("zero Value should be invalid")
	}
	if !Float("x", math.NaN()).Value.Equal(Float("y", math.NaN()).Value) || Int("x", 1).Value.Equal(Float("x", 1).Value) {
		t.Error("Value.Equal")
	}
}
