package qps

import (
	"testing"
	"time"
)

func TestParseAt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		in      string
		delay   int64
		at      int64
		wantErr bool
	}{
		{"+2s", 2000, 0, false},                               // relative
		{"+1m30s", 90000, 0, false},                           // relative, compound
		{"2027-01-15T08:00:10Z", 0, 1_800_000_010_000, false}, // absolute
		{"2027-01-15T08:00:00Z", 0, 0, true},                  // not in the future
		{"soon", 0, 0, true},                                  // neither
	}
	for _, tt := range tests {
		r, err := parseAt(tt.in, now)
		if (err != nil) != tt.wantErr || (err == nil && (r.DelayMillis != tt.delay || r.AtMillis != tt.at)) {
			t.Errorf("parseAt(%q) = %+v, %v", tt.in, r, err)
		}
	}
}
