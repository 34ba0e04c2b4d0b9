package timesvc

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/internal/testwait"
)

// start runs a service on 127.0.0.1:0 for the test's duration and checks
// that Serve ends cleanly.
func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s
}

func dial(t *testing.T, s *Server) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, s.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func request(t1 int64) []byte {
	b, _ := (&api.TimePacket{Kind: api.TimeRequest, T1: t1}).MarshalBinary()
	return b
}

// expect reads one packet within d.
func expect(t *testing.T, c *net.UDPConn, d time.Duration) api.TimePacket {
	t.Helper()
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var p api.TimePacket
	if err := p.UnmarshalBinary(buf[:n]); err != nil {
		t.Fatalf("answer: %v", err)
	}
	return p
}

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For

func TestAnswer(t *testing.T) {
	// A clock that ticks 1000 ns per reading: T2 and T3 are the readings
	// at receive and at send.
	var now atomic.Int64
	s := start(t, WithClock(func() int64 { return now.Add(1000) }))
	c := dial(t, s)
	send(t, c, request(42))
	p := expect(t, c, 2*time.Second)
	if want := (api.TimePacket{Kind: api.TimeResponse, T1: 42, T2: 1000, T3: 2000}); p != want {
		t.Fatalf("answer %+v, want %+v", p, want)
	}
	if s.Answered() != 1 {
		t.Fatalf("Answered = %d", s.Answered())
	}
	if _, ok := s.Addr().(*net.UDPAddr); !ok {
		t.Fatalf("Addr is a %T", s.Addr())
	}
}

func TestIgnoresWhatIsNotARequest(t *testing.T) {
	s := start(t)
	c := dial(t, s)
	resp, _ := (&api.TimePacket{Kind: api.TimeResponse, T1: 1}).MarshalBinary()
	for _, b := range [][]byte{
		[]byte("hello"),                 // another protocol
		append(request(7), 0),           // a request with a byte too many
		resp,                            // a response: answering it could ping-pong
		make([]byte, api.TimePacketLen), // zeros of the right size
	} {
		send(t, c, b)
	}
	waitFor(t, 2*time.Second, "4 malformed datagrams", func() bool { return s.Malformed() == 4 })
	// The service still answers, and only this request.
	send(t, c, request(8))
	if p := expect(t, c, 2*time.Second); p.T1 != 8 || p.Kind != api.TimeResponse {
		t.Fatalf("answer %+v, want the answer to T1=8", p)
	}
	if s.Answered() != 1 {
		t.Fatalf("Answered = %d, want 1", s.Answered())
	}
}

func TestDelayedReplyDoesNotBlockOthers(t *testing.T) {
	// The first request's reply is held for hold; a second client asking
	// meanwhile is answered at once. The bounds below are fractions of the
	// hold, not of a scheduler's quantum: only a reply that waited for the
	// held one can miss them.
	const hold = 2 * time.Second
	s := start(t, WithReplyDelay(func(seq uint64) time.Duration {
		if seq == 0 {
			return hold
		}
		return 0
	}))
	slow, fast := dial(t, s), dial(t, s)
	send(t, slow, request(1))
	waitFor(t, 2*time.Second, "the first request", func() bool { return s.Answered() == 1 })
	send(t, fast, request(2))
	if p := expect(t, fast, hold*3/4); p.T1 != 2 {
		t.Fatalf("fast client got %+v", p)
	}
	p := expect(t, slow, 2*hold)
	if p.T1 != 1 {
		t.Fatalf("slow client got %+v", p)
	}
	// The hold happens after stamping: T3 does not account for it.
	if got := time.Duration(p.T3 - p.T2); got > hold/2 {
		t.Fatalf("T3 - T2 = %v includes the reply delay", got)
	}
}

func TestManyClients(t *testing.T) {
	s := start(t)
	const clients, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for k := range clients {
		c := dial(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for i := range each {
				t1 := int64(k*1000 + i)
				if _, err := c.Write(request(t1)); err != nil {
					errs <- err.Error()
					return
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					errs <- err.Error()
					return
				}
				var p api.TimePacket
				if err := p.UnmarshalBinary(buf[:n]); err != nil || p.T1 != t1 || p.T3 < p.T2 {
					errs <- "bad answer"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := s.Answered(); got != clients*each {
		t.Fatalf("Answered = %d, want %d", got, clients*each)
	}
}

func TestListenError(t *testing.T) {
	if _, err := Listen("127.0.0.1:notaport"); err == nil {
		t.Fatal("Listen on a bad address succeeded")
	}
}
