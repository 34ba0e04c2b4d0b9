package agents

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loops' system calls on their non-blocking descriptors, made raw:
// without the runtime's entersyscall/exitsyscall, which wakes a sleeping
// sysmon on every call once the loops have been idle. None of these can
// block, so the P need never be handed off while they run.

func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawPoll is epoll_wait with a zero timeout.
func rawPoll(ep int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawTimerSet(fd int, d int64) error {
	ts := unix.ItimerSpec{Value: unix.NsecToTimespec(d)}
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rawRecv reads into b like read(2) and also returns the socket's receive
// timestamp of the data (SO_TIMESTAMPNS, local wall clock ns), or 0 when
// there is none. oob takes the control message.
func rawRecv(fd int, b []byte, oob []uint64) (n int, rx int64, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	ctl := unsafe.Slice((*byte)(unsafe.Pointer(&oob[0])), len(oob)*8)
	msg := unix.Msghdr{Iov: &iov, Control: &ctl[0]}
	msg.SetIovlen(1)
	msg.SetControllen(len(ctl))
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
	if hl := unix.CmsgLen(0); int(msg.Controllen) >= unix.CmsgLen(16) && int(h.Len) >= unix.CmsgLen(16) &&
		h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS {
		ts := (*unix.Timespec)(unsafe.Pointer(&ctl[hl]))
		rx = ts.Nano()
	}
	return int(r), rx, nil
}
