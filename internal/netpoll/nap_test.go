package netpoll

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/testwait"
)

// gridLoop steps every step, as an agent's loop on a wake grid does: it
// asks to nap until its next step or, when not let, parks on a timerfd
// armed for it. Nothing else ever makes its Poller readable.
type gridLoop struct {
	p     *Poller
	tfd   int
	step  time.Duration
	stop  atomic.Bool
	steps atomic.Int64
	naps  atomic.Int64 // Parks that did not arm the timer: the runner naps
	most  *atomic.Int32
}

func newGridLoop(t *testing.T, step time.Duration, most *atomic.Int32) *gridLoop {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: -1}
	if err := unix.EpollCtl(p.FD(), unix.EPOLL_CTL_ADD, tfd, &ev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(tfd); p.Close() })
	return &gridLoop{p: p, tfd: tfd, step: step, most: most}
}

func (l *gridLoop) Poller() *Poller { return l.p }
func (l *gridLoop) Wake()           {}
func (l *gridLoop) Due() int64      { return time.Now().UnixNano() + int64(l.step) }
func (l *gridLoop) Step() bool {
	l.steps.Add(1)
	return l.stop.Load()
}
func (l *gridLoop) NapFor(at int64) time.Duration {
	return time.Duration(at - time.Now().UnixNano())
}

func (l *gridLoop) Park(at int64, timer bool) bool {
	if n := napping.Load(); n > l.most.Load() {
		l.most.Store(n) // racy max, enough to see a breach
	}
	if !timer {
		l.naps.Add(1)
		return true
	}
	if err := TimerSet(l.tfd, max(at-time.Now().UnixNano(), 1)); err != nil {
		panic(err)
	}
	return true
}

// Loops that nap keep stepping with nothing ready on their Pollers, hold
// fewer Ps than there are, and leave the process's other goroutines, its
// timers and its garbage collector free to run.
func TestNapsLeaveAPFree(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("naps need two Ps")
	}
	var most atomic.Int32
	loops := []*gridLoop{
		newGridLoop(t, 200*time.Microsecond, &most),
		newGridLoop(t, 200*time.Microsecond, &most),
		newGridLoop(t, 200*time.Microsecond, &most),
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(loops))
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- RunAlone(l) }()
	}
	testwait.For(t, 20*time.Second, "every loop stepping, some of them napping", func() bool {
		n := int64(0)
		for _, l := range loops {
			if l.steps.Load() < 100 {
				return false
			}
			n += l.naps.Load()
		}
		return n > 100
	})
	// The rest of the process still runs: timers fire, goroutines are
	// scheduled, and a collection stops the world and ends.
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Microsecond)
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
	}
	runtime.GC()

	for _, l := range loops {
		l.stop.Store(true)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if max := int32(runtime.GOMAXPROCS(0)) - 1; most.Load() > max {
		t.Errorf("%d goroutines napped at once, more than GOMAXPROCS-1 = %d", most.Load(), max)
	}
	if n := napping.Load(); n != 0 {
		t.Errorf("%d nap slots still taken after every loop stopped", n)
	}
}

// A loop whose NapFor says no, or with no due time, never naps.
func TestNoNapWithoutLeave(t *testing.T) {
	if d := napFor(&evLoop{}, -1); d != 0 {
		t.Errorf("nap of %v with nothing due", d)
	}
	var most atomic.Int32
	l := newGridLoop(t, time.Millisecond, &most)
	if d := napFor(l, time.Now().UnixNano()-1); d != 0 || napping.Load() != 0 {
		t.Errorf("nap of %v for a time past, %d slots taken", d, napping.Load())
	}
}
