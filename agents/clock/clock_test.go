package clock

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/timesvc"
	"github.com/hbctl/hbctl/internal/testwait"
)

// tolerance is how far a loopback measurement may be off: the round trip
// on 127.0.0.1 is tens of microseconds. On a shared machine even the
// least-delay probe of a round may be descheduled; its offset is then off
// by at most half its delay, and the checks widen to that (slack), so a
// starved host cannot fail them.
const tolerance = 5 * time.Millisecond

// slack is how far an offset measured with round-trip delay may be off.
func slack(delay time.Duration) time.Duration {
	return max(tolerance, delay/2+time.Millisecond)
}

// nowNear says whether c.Now() is want ahead of the system clock, within
// tol. The two system clock reads bracket c.Now(), so a stall between the
// reads widens the bracket instead of failing the check.
func nowNear(c *Clock, want, tol time.Duration) (time.Duration, bool) {
	before := time.Now().UnixNano()
	n := c.Now()
	after := time.Now().UnixNano()
	lo, hi := time.Duration(n-after), time.Duration(n-before)
	return lo, want >= lo-tol && want <= hi+tol
}

func service(t *testing.T, opts ...timesvc.Option) *timesvc.Server {
	t.Helper()
	s, err := timesvc.Listen("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func skewed(d time.Duration) func() int64 {
	return func() int64 { return time.Now().UnixNano() + int64(d) }
}

func near(got, want, tol time.Duration) bool {
	return got-want <= tol && want-got <= tol
}

func TestSkewedClock(t *testing.T) {
	svc := service(t)
	c := New(svc.Addr().String(), WithLocalClock(skewed(250*time.Millisecond)))
	// Before the first round: the local clock, and no offset.
	if _, _, ok := c.Offset(); ok {
		t.Fatal("offset known before any round")
	}
	if d, ok := nowNear(c, 250*time.Millisecond, tolerance); !ok {
		t.Fatalf("Now before sync is %v from the system clock, want the local +250ms", d)
	}
	s, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Offset, -250*time.Millisecond, slack(s.Delay)) {
		t.Fatalf("offset %v, want -250ms ± %v (delay %v)", s.Offset, slack(s.Delay), s.Delay)
	}
	if s.Probes != DefaultProbes || s.Answers != DefaultProbes {
		t.Fatalf("%d of %d probes answered", s.Answers, s.Probes)
	}
	if off, delay, ok := c.Offset(); !ok || off != s.Offset || delay != s.Delay {
		t.Fatalf("Offset() = %v %v %v, sample %+v", off, delay, ok, s)
	}
	// Now agrees with the service's clock (the system clock here).
	if d, ok := nowNear(c, 0, slack(s.Delay)); !ok {
		t.Fatalf("Now is %v off the service's clock", d)
	}
}

func TestNoAnswer(t *testing.T) {
	// A socket that receives and never answers.
	mute, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	const probes, timeout = 3, 100 * time.Millisecond
	c := New(mute.LocalAddr().String(), WithProbes(probes), WithProbeTimeout(timeout))
	begin := time.Now()
	_, err = c.Sync(context.Background())
	took := time.Since(begin)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
	t.Logf("error after %v: %v", took, err)
	// Bounded by probes × timeout (plus scheduling slack on a busy host).
	if took > probes*timeout+time.Second {
		t.Fatalf("a round against a mute service took %v", took)
	}
	if _, _, ok := c.Offset(); ok {
		t.Fatal("a failed round produced an offset")
	}
}

func TestNoServiceAtAll(t *testing.T) {
	// A port nobody listens on: refused at once, still a clear error.
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	c := New(addr, WithProbes(2), WithProbeTimeout(100*time.Millisecond))
	if _, err := c.Sync(context.Background()); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
}

func TestFailedRoundKeepsLastSample(t *testing.T) {
	// Answers the first round (8 probes) at once, then holds every reply
	// far beyond the probe timeout.
	svc := service(t, timesvc.WithReplyDelay(func(seq uint64) time.Duration {
		if seq < DefaultProbes {
			return 0
		}
		return time.Hour
	}))
	c := New(svc.Addr().String(), WithLocalClock(skewed(-80*time.Millisecond)),
		WithProbeTimeout(50*time.Millisecond))
	first, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background()); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("second round: err = %v, want ErrNoAnswer", err)
	}
	if s, ok := c.Last(); !ok || s != first {
		t.Fatalf("after a failed round: %+v %v, want the first sample %+v", s, ok, first)
	}
	if d, ok := nowNear(c, 0, slack(first.Delay)); !ok {
		t.Fatalf("Now is %v off after a failed round", d)
	}
}

func TestLeastDelayWins(t *testing.T) {
	// Every reply but the sixth of each round is held 100 ms on the way
	// back: their offsets are biased by -50 ms (half the asymmetry). Only
	// the least-delay choice gives the true offset. (A stall as long as the
	// hold on the one unheld reply would make the test fail: it says so.)
	const hold = 100 * time.Millisecond
	svc := service(t, timesvc.WithReplyDelay(func(seq uint64) time.Duration {
		if seq%DefaultProbes == 5 {
			return 0
		}
		return hold
	}))
	c := New(svc.Addr().String(), WithLocalClock(skewed(100*time.Millisecond)))
	s, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Answers != DefaultProbes {
		t.Fatalf("%d answers", s.Answers)
	}
	if s.Delay >= hold {
		t.Fatalf("chose a held reply (delay %v), or the host stalled the one unheld reply for %v", s.Delay, hold)
	}
	if !near(s.Offset, -100*time.Millisecond, slack(s.Delay)) {
		t.Fatalf("offset %v, want -100ms ± %v", s.Offset, slack(s.Delay))
	}
}

func TestStaleAndForeignRepliesIgnored(t *testing.T) {
	// A hand-made service that, before the true answer, sends garbage and a
	// reply to some other probe claiming the clocks differ by an hour.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var req api.TimePacket
			if req.UnmarshalBinary(buf[:n]) != nil {
				continue
			}
			now := time.Now().UnixNano()
			hour := int64(time.Hour)
			stale, _ := (&api.TimePacket{Kind: api.TimeResponse, T1: req.T1 - 1, T2: now + hour, T3: now + hour}).MarshalBinary()
			echo, _ := (&api.TimePacket{Kind: api.TimeRequest, T1: req.T1, T2: now + hour, T3: now + hour}).MarshalBinary()
			good, _ := (&api.TimePacket{Kind: api.TimeResponse, T1: req.T1, T2: now, T3: time.Now().UnixNano()}).MarshalBinary()
			for _, b := range [][]byte{[]byte("junk"), stale, echo, good} {
				conn.WriteToUDP(b, from)
			}
		}
	}()
	c := New(conn.LocalAddr().String(), WithProbes(4))
	s, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Offset, 0, slack(s.Delay)) || s.Answers != 4 {
		t.Fatalf("sample %+v: took a foreign reply", s)
	}
}

func TestRun(t *testing.T) {
	svc := service(t)
	var rounds atomic.Int32
	c := New(svc.Addr().String(), WithProbes(2), WithInterval(20*time.Millisecond),
		WithLocalClock(skewed(time.Second)),
		WithOnSync(func(s Sample, err error) {
			if err == nil {
				rounds.Add(1)
			}
		}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testwait.For(t, 5*time.Second, "3 rounds", func() bool { return rounds.Load() >= 3 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if off, delay, ok := c.Offset(); !ok || !near(off, -time.Second, slack(delay)) {
		t.Fatalf("offset %v %v after Run", off, ok)
	}
}

func TestSyncCancelled(t *testing.T) {
	mute, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	c := New(mute.LocalAddr().String(), WithProbeTimeout(10*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Sync(ctx)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled Sync kept waiting for its probes")
	}
}
