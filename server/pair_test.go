package server

import (
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/netpoll"
)

// A merged pair's host with the wake grid on parks on four members (its
// eventfd, timerfd and sockets' set, and the guest's set). With all four
// ready at once, its step must still read its eventfd: a member left ready
// is not reported again, and an unread eventfd would silence every later
// wake-up (posts, Close).
func TestPairedHostReadsItsEventfd(t *testing.T) {
	s := &Server{cfg: Config{WakeGrid: time.Millisecond}, log: slog.Default(), start: time.Now()}
	h, err := newLoop(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.closeFds()
	g, err := newLoop(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.closeFds()
	s.loops = []*loop{h, g}
	pairs, err := netpoll.PairUp(s.loops, s.log)
	if err != nil {
		t.Fatal(err)
	}
	h.pair, g.pair = pairs[0], pairs[1]
	// Made ready in this order: the guest's set, the host's timer, its
	// sockets' set (an eventfd standing in for a socket), its eventfd.
	g.wake()
	if err := netpoll.TimerSet(h.tfd, 1); err != nil {
		t.Fatal(err)
	}
	// Until it has expired: the timerfd is then readable.
	if _, err := unix.Poll([]unix.PollFd{{Fd: int32(h.tfd), Events: unix.POLLIN}}, 10000); err != nil {
		t.Fatal(err)
	}
	sock, err := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: 1 << 20}
	if err := unix.EpollCtl(h.ep, unix.EPOLL_CTL_ADD, sock, &ev); err != nil {
		t.Fatal(err)
	}
	h.wake()
	if h.step() {
		t.Fatal("the host stopped")
	}
	if h.woken.Load() {
		t.Fatal("the host parked with its eventfd unread: later wake-ups are lost")
	}
}
