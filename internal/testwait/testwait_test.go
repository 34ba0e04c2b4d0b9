package testwait

import (
	"strings"
	"testing"
	"time"
)

func TestForSeesTheCondition(t *testing.T) {
	n := 0
	For(t, time.Second, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = format
	if len(args) > 1 {
		r.msg = args[1].(string)
	}
}

func TestForFailsAfterTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	For(r, 20*time.Millisecond, "never", func() bool { calls++; return r.msg != "" })
	if !strings.Contains(r.msg, "never") {
		t.Fatalf("no failure naming the condition: %q", r.msg)
	}
}
