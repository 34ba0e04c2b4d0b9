package agents

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller is a loop's epoll set. The loop never blocks in epoll_wait: it
// polls the set with a zero timeout and, when nothing is due, parks its
// goroutine on the set's own descriptor through the runtime's network
// poller (an epoll descriptor is readable while any of its members is).
//
// A goroutine blocked in a system call keeps its P until sysmon takes it
// back and hands it to a freshly woken M, which finds nothing to do and
// sleeps again; at thousands of wake-ups a second per loop that churn of
// futex wake-ups and context switches cost more CPU than the SHAKEs. A
// parked goroutine leaves its P idle instead, and sysmon goes quiet.
type poller struct {
	fd int // the epoll descriptor, for epoll_ctl and epoll_wait
	f  *os.File
	rc syscall.RawConn
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the runtime poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{fd: fd, f: os.NewFile(uintptr(fd), "epoll")}
	// Only a descriptor the runtime polls supports deadlines.
	if err := p.f.SetReadDeadline(time.Time{}); err != nil {
		p.f.Close()
		return nil, fmt.Errorf("epoll: not pollable by the runtime: %w", err)
	}
	if p.rc, err = p.f.SyscallConn(); err != nil {
		p.f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return p, nil
}

// run calls step until it reports true, parking the goroutine whenever it
// reports false until the epoll set has something ready. Readiness that
// arrives while step runs is not lost: the next park returns at once.
func (p *poller) run(step func() (stop bool)) error {
	return p.rc.Read(func(uintptr) bool { return step() })
}

// close releases the descriptor; run must have returned.
func (p *poller) close() { p.f.Close() }
