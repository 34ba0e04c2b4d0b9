package netpoll

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poller is an epoll set a loop parks on. The loop never blocks in
// epoll_wait: it polls its sets with a zero timeout (Poll) and, when
// nothing is due, parks its goroutine on the Poller's descriptor through
// the runtime's network poller (an epoll descriptor is readable while any
// of its members is).
type Poller struct {
	fd int // the epoll descriptor, for epoll_ctl and epoll_wait
	f  *os.File
	rc syscall.RawConn
}

// New returns an empty Poller.
func New() (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the runtime poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &Poller{fd: fd, f: os.NewFile(uintptr(fd), "epoll")}
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

// FD is the epoll descriptor, for epoll_ctl and Poll.
func (p *Poller) FD() int { return p.fd }

// Run calls step until it reports true, parking the goroutine whenever it
// reports false until the epoll set has something ready. Readiness that
// arrives while step runs is not lost: the next park returns at once. A
// step that reports false must have drained what the set reported (the
// runtime waits for the next edge).
func (p *Poller) Run(step func() (stop bool)) error {
	return p.rc.Read(func(uintptr) bool { return step() })
}

// Close releases the descriptor; Run must have returned.
func (p *Poller) Close() { p.f.Close() }

// SetMember makes the epoll set member, registered in p under tag, report
// its readiness to p or not. It is modified, never removed and added again:
// adding an epoll set to another walks every descriptor in it. Switched
// back on, readiness already there is reported at once.
func (p *Poller) SetMember(member int, tag int32, on bool) error {
	ev := unix.EpollEvent{Fd: tag}
	if on {
		ev.Events = unix.EPOLLIN
	}
	return unix.EpollCtl(p.fd, unix.EPOLL_CTL_MOD, member, &ev)
}
