package netpoll

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Naps. A loop on a wake grid under paced load wakes every grid step, and
// a park through the runtime's poller costs each wake-up more than its
// own work: the scheduler looks for other goroutines, polls the network
// without blocking, tries to steal from the other P, gives its P up and
// blocks in epoll_wait, two epoll_waits and some microseconds of
// scheduler code a step. Parked for at most one step with its sockets
// muted, the loop is waiting for nothing but the time, so it may instead
// sleep in clock_nanosleep holding its P: one system call, as the bare
// client of the paced benchmark does.
//
// A napping goroutine keeps its P, so at most GOMAXPROCS-1 nap at once:
// another P stays free for the process's other goroutines, the network
// poller and the timers. A nap is at most one grid step, so commands,
// hand-overs and stops posted meanwhile wait that long at most, and a stop
// of the world interrupts it (its signal ends clock_nanosleep with EINTR).

// napping counts the goroutines napping or about to.
var napping atomic.Int32

// takeNap admits a nap of d: false when d is not positive or when naps
// would hold every P but one. A true answer must be followed by nap(d).
func takeNap(d time.Duration) bool {
	if d <= 0 {
		return false
	}
	limit := int32(runtime.GOMAXPROCS(0)) - 1
	for {
		n := napping.Load()
		if n >= limit {
			return false
		}
		if napping.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// nap sleeps for d holding the P, then gives the nap's slot back.
func nap(d time.Duration) {
	Sleep(d)
	napping.Add(-1)
}

// Sleep is clock_nanosleep for d, made raw: the calling goroutine keeps its
// P and sysmon is not woken. A signal may end it early.
func Sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}

// runSteps runs step on p's goroutine until it stops: between steps it
// naps for what step asks, or parks on p when step asks for no nap.
func runSteps(p *Poller, step func() (stop bool, nap time.Duration)) error {
	return p.Run(func() bool {
		for {
			stop, d := step()
			if stop || d <= 0 {
				return stop
			}
			nap(d)
		}
	})
}
