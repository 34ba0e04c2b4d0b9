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
// poller and the timers. A nap is at most MaxNap, so commands, hand-overs
// and stops posted meanwhile wait that long at most, and a stop of the
// world interrupts it (its signal ends clock_nanosleep with EINTR).

// MaxNap bounds a nap: a longer wait parks, so that no P is held asleep
// for long (a wake grid of 50 ms would otherwise hold one 50 ms at a time)
// and a loop that naps wakes often enough to take the commands, hand-overs
// and stops posted to it. A goroutine the napping loop makes runnable (a
// command's caller, the journal's committer) runs on another P; when none
// is free it waits until the loop parks or sysmon preempts it (10 ms).
var MaxNap = time.Millisecond

// napping counts the goroutines napping or about to; napLimit is how
// many may, GOMAXPROCS-1 as of the last runSteps (GOMAXPROCS(0) takes the
// scheduler's lock: not once a step).
var napping, napLimit atomic.Int32

// takeNap admits a nap of d: false when d is not positive, longer than
// MaxNap, or when naps would hold every P but one. A true answer holds a
// slot, which runSteps gives back.
func takeNap(d time.Duration) bool {
	if d <= 0 || d > MaxNap {
		return false
	}
	for {
		n := napping.Load()
		if n >= napLimit.Load() {
			return false
		}
		if napping.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sleep is clock_nanosleep for d, made raw: the calling goroutine keeps
// its P and sysmon is not woken. A signal (a stop of the world, a
// preemption) ends it early with EINTR, which needs no handling: the
// caller steps again sooner, and yields at its next function call.
func sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}

// runSteps runs step on p's goroutine until it stops: between steps it
// naps for what step asks (a slot taken by takeNap, which it gives back),
// or parks on p when step asks for no nap.
func runSteps(p *Poller, step func() (stop bool, nap time.Duration)) error {
	napLimit.Store(int32(runtime.GOMAXPROCS(0)) - 1)
	return p.Run(func() bool {
		for {
			stop, d := step()
			if d <= 0 {
				return stop
			}
			if !stop {
				sleep(d)
			}
			napping.Add(-1)
			if stop {
				return true
			}
		}
	})
}
