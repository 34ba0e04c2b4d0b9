package telemetry

import (
	"fmt"
	"syscall"
)

// FileLimit is the process's open-file limit after RaiseFileLimit.
type FileLimit struct {
	Soft, Hard uint64 // after raising
	Before     uint64 // soft limit found at start
}

// Reserved is how many descriptors a process keeps for everything that is
// not a user connection: listeners, journal, logs, HTTP clients, pipes.
const Reserved = 1000

// MaxConns is how many connections the limit leaves room for.
func (l FileLimit) MaxConns() int {
	if l.Soft <= Reserved {
		return 0
	}
	return int(l.Soft - Reserved)
}

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit, since
// holding tens of thousands of connections needs every descriptor the host
// allows, and returns both.
func RaiseFileLimit() (FileLimit, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return FileLimit{}, fmt.Errorf("get open-file limit: %w", err)
	}
	l := FileLimit{Before: r.Cur, Soft: r.Cur, Hard: r.Max}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return l, fmt.Errorf("raise open-file limit from %d to %d: %w", l.Before, r.Max, err)
		}
		l.Soft = r.Max
	}
	return l, nil
}

// CheckConns says clearly when a request for n connections exceeds what the
// open-file limit allows.
func (l FileLimit) CheckConns(n int) error {
	if n > l.MaxConns() {
		return fmt.Errorf("%d connections requested but the open-file limit (soft %d, hard %d) allows at most %d in one process; raise the hard limit (scripts/tune-host.sh) or spread the users over more processes",
			n, l.Soft, l.Hard, l.MaxConns())
	}
	return nil
}
