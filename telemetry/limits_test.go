package telemetry

import (
	"strings"
	"syscall"
	"testing"
)

func TestRaiseFileLimit(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	// Lower the soft limit first so raising has something to do.
	if r.Max > 1024 {
		lower := r
		lower.Cur = 1024
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lower); err != nil {
			t.Fatal(err)
		}
	}
	l, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if l.Soft != r.Max || l.Hard != r.Max {
		t.Fatalf("soft %d hard %d, want both %d", l.Soft, l.Hard, r.Max)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if now.Cur != r.Max {
		t.Fatalf("limit in force is %d", now.Cur)
	}
	if err := l.CheckConns(l.MaxConns()); err != nil {
		t.Fatal(err)
	}
	err = l.CheckConns(l.MaxConns() + 1)
	if err == nil || !strings.Contains(err.Error(), "allows at most") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
}
