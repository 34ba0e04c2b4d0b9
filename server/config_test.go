package server

import (
	"errors"
	"testing"
)

func TestParseUIDRange(t *testing.T) {
	cases := []struct {
		in   string
		want UIDRange
		err  bool
	}{
		{"", UIDRange{}, false},                                // unset: every uid
		{"0-999999", UIDRange{0, 999999, true}, false},         // the usual million
		{" 5 - 5 ", UIDRange{5, 5, true}, false},               // one uid, spaces tolerated
		{"0-4294967295", UIDRange{0, 4294967295, true}, false}, // the whole u32 space
		{"7", UIDRange{}, true},                                // no dash
		{"9-1", UIDRange{}, true},                              // reversed
		{"-1-5", UIDRange{}, true},                             // negative
		{"0-4294967296", UIDRange{}, true},                     // above u32
		{"a-b", UIDRange{}, true},                              // not numbers
	}
	for _, c := range cases {
		got, err := ParseUIDRange(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: got %+v, %v", c.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadRange) {
			t.Errorf("%q: error %v is not ErrBadRange", c.in, err)
		}
	}
}

func FuzzParseUIDRange(f *testing.F) {
	for _, s := range []string{"", "0-999999", "5-5", "9-1", "x", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseUIDRange(s)
		if err != nil {
			return
		}
		if r.Set && r.Lo > r.Hi {
			t.Fatalf("%q: %+v", s, r)
		}
		if r.Set {
			back, err := ParseUIDRange(r.String())
			if err != nil || back != r {
				t.Fatalf("%q: round trip %+v %v", s, back, err)
			}
		}
	})
}
