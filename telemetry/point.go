package telemetry

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Point is one row of a time series: a measurement, its sorted tags, typed
// fields and a timestamp. It maps one to one onto an InfluxDB line.
//
// Field values can only be int64, float64, string or bool: InfluxDB 1.8
// rejects unsigned integers and the client's non-blocking writer then drops
// the whole batch without reporting an error, so the model makes them
// impossible (Uint converts at the edge).
type Point struct {
	Measurement string
	Tags        []Tag // sorted by key, keys unique
	Fields      []Field
	Time        time.Time // zero: the receiver assigns one
}

// Tag is a key and value indexing a series.
type Tag struct {
	Key, Value string
}

// Field is a named, typed value of a point.
type Field struct {
	Key   string
	Value Value
}

// Kind is the type of a field value.
type Kind uint8

// The four kinds a field can have, the same as InfluxDB 1.8 stores.
const (
	KindInt Kind = iota + 1
	KindFloat
	KindString
	KindBool
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "integer"
	case KindFloat:
		return "float"
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	}
	return "invalid"
}

// Value is a field value of one of the four kinds. The zero Value is invalid.
type Value struct {
	kind Kind
	n    int64 // KindInt; KindBool as 0 or 1
	f    float64
	s    string
}

// Kind says which accessor holds the value.
func (v Value) Kind() Kind { return v.kind }

// Int is the value of a KindInt field.
func (v Value) Int() int64 { return v.n }

// Float is the value of a KindFloat field.
func (v Value) Float() float64 { return v.f }

// Str is the value of a KindString field.
func (v Value) Str() string { return v.s }

// Bool is the value of a KindBool field.
func (v Value) Bool() bool { return v.n != 0 }

// Any returns the value as int64, float64, string or bool (nil if invalid).
func (v Value) Any() any {
	switch v.kind {
	case KindInt:
		return v.n
	case KindFloat:
		return v.f
	case KindString:
		return v.s
	case KindBool:
		return v.n != 0
	}
	return nil
}

// Equal reports whether two values have the same kind and value (NaN equals NaN).
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindFloat:
		return v.f == w.f || (math.IsNaN(v.f) && math.IsNaN(w.f))
	case KindString:
		return v.s == w.s
	}
	return v.n == w.n
}

// Int makes an integer field.
func Int(key string, v int64) Field { return Field{key, Value{kind: KindInt, n: v}} }

// Uint makes an integer field from an unsigned counter. It is stored as
// int64, clamped at math.MaxInt64, because InfluxDB 1.8 has no unsigned type.
func Uint(key string, v uint64) Field {
	if v > math.MaxInt64 {
		v = math.MaxInt64
	}
	return Int(key, int64(v))
}

// Float makes a float field. NaN and ±Inf cannot be written as line
// protocol; encoders leave such fields out.
func Float(key string, v float64) Field { return Field{key, Value{kind: KindFloat, f: v}} }

// String makes a string field.
func String(key, v string) Field { return Field{key, Value{kind: KindString, s: v}} }

// Bool makes a boolean field.
func Bool(key string, v bool) Field {
	var n int64
	if v {
		n = 1
	}
	return Field{key, Value{kind: KindBool, n: n}}
}

// Tags builds a sorted tag list from key, value pairs. A trailing key
// without a value is ignored; a repeated key keeps its last value.
func Tags(kv ...string) []Tag {
	tags := make([]Tag, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		tags = setTag(tags, kv[i], kv[i+1])
	}
	return tags
}

// NewPoint makes a point, sorting a copy of tags so callers may pass them in
// any order.
func NewPoint(measurement string, tags []Tag, fields []Field, t time.Time) Point {
	sorted := make([]Tag, 0, len(tags))
	for _, tg := range tags {
		sorted = setTag(sorted, tg.Key, tg.Value)
	}
	return Point{Measurement: measurement, Tags: sorted, Fields: fields, Time: t}
}

// Tag returns the value of the tag key.
func (p Point) Tag(key string) (string, bool) {
	i, ok := slices.BinarySearchFunc(p.Tags, key, cmpTagKey)
	if !ok {
		return "", false
	}
	return p.Tags[i].Value, true
}

// SetTag adds or replaces a tag, keeping the list sorted. It copies the tag
// slice first, so points sharing one tag slice are not changed.
func (p *Point) SetTag(key, value string) {
	tags := make([]Tag, len(p.Tags), len(p.Tags)+1)
	copy(tags, p.Tags)
	p.Tags = setTag(tags, key, value)
}

// Field returns the value of the field key.
func (p Point) Field(key string) (Value, bool) {
	for _, f := range p.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return Value{}, false
}

func cmpTagKey(t Tag, key string) int { return strings.Compare(t.Key, key) }

func setTag(tags []Tag, key, value string) []Tag {
	i, ok := slices.BinarySearchFunc(tags, key, cmpTagKey)
	if ok {
		tags[i].Value = value
		return tags
	}
	return slices.Insert(tags, i, Tag{key, value})
}
