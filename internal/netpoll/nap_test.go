package netpoll

import (
	"log/slog"
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
	fail  atomic.Bool // Park reports false: the loop must stop
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
	if l.fail.Load() {
		return false
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
	// More loops than Ps: every P but one would nap without the limit.
	var loops []*gridLoop
	for range runtime.GOMAXPROCS(0) + 1 {
		loops = append(loops, newGridLoop(t, 200*time.Microsecond, &most))
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

// Nap slots come back however a napping loop stops: on its step's word, on
// its Park's, alone or in a pair, host or guest.
func TestNapSlotsComeBack(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("naps need two Ps")
	}
	var most atomic.Int32
	for _, byPark := range []bool{false, true} {
		stop := func(l *gridLoop) {
			if byPark {
				l.fail.Store(true)
			} else {
				l.stop.Store(true)
			}
		}
		l := newGridLoop(t, 200*time.Microsecond, &most)
		done := make(chan error, 1)
		go func() { done <- RunAlone(l) }()
		testwait.For(t, 20*time.Second, "the loop napping", func() bool { return l.naps.Load() > 10 })
		stop(l)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := napping.Load(); n != 0 {
			t.Fatalf("stopped by Park %v: %d nap slots still taken", byPark, n)
		}

		h, g := newGridLoop(t, 200*time.Microsecond, &most), newGridLoop(t, 200*time.Microsecond, &most)
		p, err := NewPair(h, g, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		go func() { errs <- p.RunHost() }()
		go func() { errs <- p.RunGuest() }()
		testwait.For(t, 20*time.Second, "the pair stepping and napping", func() bool {
			return h.naps.Load() > 10 && g.steps.Load() > 10
		})
		stop(g)
		stop(h)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := napping.Load(); n != 0 {
			t.Fatalf("pair stopped by Park %v: %d nap slots still taken", byPark, n)
		}
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
