package netpoll

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/testwait"
)

// evLoop is a Loop over one eventfd: every wake-up is counted once.
type evLoop struct {
	t       *testing.T
	p       *Poller
	efd     int
	inStep  atomic.Bool
	stop    atomic.Bool
	pending atomic.Int64 // Wakes not yet seen by a Step
	// Owned by whichever goroutine runs the loop.
	total uint64 // the eventfd's counts read
	seen  int64  // sends seen
}

func newEvLoop(t *testing.T) *evLoop {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(p.FD(), unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		t.Fatal(err)
	}
	l := &evLoop{t: t, p: p, efd: efd}
	t.Cleanup(func() { unix.Close(efd); p.Close() })
	return l
}

func (l *evLoop) Poller() *Poller { return l.p }
func (l *evLoop) Due() int64      { return -1 }
func (l *evLoop) Park(int64, bool) bool {
	return true
}
func (l *evLoop) NapFor(int64) time.Duration { return 0 }
func (l *evLoop) Wake() {
	var one = [8]byte{1}
	unix.Write(l.efd, one[:])
}

func (l *evLoop) Step() bool {
	if l.inStep.Swap(true) {
		l.t.Error("two goroutines run one loop at once")
	}
	defer l.inStep.Store(false)
	var b [8]byte
	if n, _ := Read(l.efd, b[:]); n == 8 {
		l.total += *(*uint64)(unsafe.Pointer(&b[0]))
		if k := int64(l.total>>sendShift) - l.seen; k > 0 {
			l.seen += k
			l.pending.Add(-k)
		}
	}
	return l.stop.Load()
}

// sendShift: a send adds 1<<sendShift to the eventfd, the pair's own
// wake-ups (Wake) add 1, so that a Step tells them apart.
const sendShift = 20

// send wakes l k times, as other goroutines do.
func (l *evLoop) send(k int) {
	for i := 0; i < k; i++ {
		l.pending.Add(1)
		var v [8]byte
		*(*uint64)(unsafe.Pointer(&v[0])) = 1 << sendShift
		unix.Write(l.efd, v[:])
	}
}

// A pair that merges and splits at every window of its meter loses no
// wake-up of either loop, never runs one loop on two goroutines at once,
// and stops whichever loop stops first.
func TestPairHandsOverWithoutLoss(t *testing.T) {
	// Not restored: the package's other tests do not pair loops, and a
	// failed run may leave a pair running.
	MeterWindow, SplitAbove, MergeBelow, SplitAfter, MergeAfter = 0, -1, 1e9, 1, 1

	for _, hostFirst := range []bool{true, false} {
		h, g := newEvLoop(t), newEvLoop(t)
		p, err := NewPair(h, g, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); errs <- p.RunHost() }()
		go func() { defer wg.Done(); errs <- p.RunGuest() }()

		var senders sync.WaitGroup
		for _, l := range []*evLoop{h, g} {
			senders.Add(1)
			go func() {
				defer senders.Done()
				for i := 0; i < 2000; i++ {
					l.send(1)
					if i%50 == 0 {
						time.Sleep(100 * time.Microsecond) // let it park now and then
					}
				}
			}()
		}
		senders.Wait()
		testwait.For(t, 20*time.Second, "every wake-up seen by its loop", func() bool {
			return h.pending.Load() == 0 && g.pending.Load() == 0
		})
		if p.Handovers() < 10 {
			t.Errorf("%d hand-overs: the pair did not merge and split", p.Handovers())
		}
		first, second := h, g
		if !hostFirst {
			first, second = g, h
		}
		first.stop.Store(true)
		first.Wake()
		second.stop.Store(true)
		second.Wake()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("host first %v: the pair does not stop", hostFirst)
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if h.seen != 2000 || g.seen != 2000 {
			t.Errorf("host saw %d wake-ups, guest %d, of 2000 each", h.seen, g.seen)
		}
	}
}
