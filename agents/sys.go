package agents

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loops' other system calls are internal/netpoll's, made raw for the
// reasons given there; receiving with a timestamp is the agents' alone.

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
