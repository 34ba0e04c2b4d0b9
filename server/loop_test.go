package server

import (
	"net"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

// TestPipelinedBurstIsAnsweredInOrder sends LOGIN and more SHAKEs than one
// read of a loop takes, in a single write and before reading anything.
// Every uid lands on each loop in turn (two SETs, two loops), so half of
// the connections move to another loop on their LOGIN with the burst
// behind it. All must be answered, in order, and nobody is dropped.
func TestPipelinedBurstIsAnsweredInOrder(t *testing.T) {
	s, addr := startServer(t, Config{Sets: 2, Loops: 2})
	const shakes = 3 * loopReadBuf / 16 // three full reads' worth
	for uid := uint32(0); uid < 4; uid++ {
		c := dial(t, addr)
		var burst []byte
		burst = wire.Append(burst, ptr(wire.Login(now(), uid)))
		for i := 0; i < shakes; i++ {
			burst = wire.Append(burst, ptr(wire.Shake(now(), uid)))
		}
		done := make(chan error, 1)
		go func() {
			c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := c.nc.Write(burst)
			done <- err
		}()
		if f := c.expect(wire.CmdLoginResp); f.UID() != uid || f.Result() != wire.LoginOK {
			t.Fatalf("uid %d: login %v", uid, f.Fields)
		}
		for i := 0; i < shakes; i++ {
			if f := c.expect(wire.CmdShakeResp); f.UID() != uid || f.Result() != wire.ResultNone {
				t.Fatalf("uid %d answer %d: %v", uid, i, f.Fields)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("uid %d: write: %v", uid, err)
		}
	}
	st := s.Stats()
	if st.Requests.Shake != 4*shakes || st.Results.None != 4*shakes || st.SlowConsumers != 0 || st.ProtocolErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, 5*time.Second, "4 connections", func() bool { return s.Stats().Connections == 4 })
}

// TestRejectedLoginThenLoginOnAnotherLoop: a connection's answer to a
// rejected LOGIN must reach the client before the connection moves to the
// loop of the uid it logs in with next.
func TestRejectedLoginThenLoginOnAnotherLoop(t *testing.T) {
	_, addr := startServer(t, Config{Sets: 4, Loops: 4, Users: UIDRange{Lo: 0, Hi: 99, Set: true}})
	for uid := uint32(0); uid < 8; uid++ {
		c := dial(t, addr)
		c.send(wire.Login(now(), 500), wire.Login(now(), uid), wire.Shake(now(), uid))
		if f := c.expect(wire.CmdLoginResp); f.UID() != 500 || f.Result() != wire.LoginRejected {
			t.Fatalf("uid %d: first answer %v", uid, f.Fields)
		}
		if f := c.expect(wire.CmdLoginResp); f.UID() != uid || f.Result() != wire.LoginOK {
			t.Fatalf("uid %d: second answer %v", uid, f.Fields)
		}
		if f := c.expect(wire.CmdShakeResp); f.UID() != uid {
			t.Fatalf("uid %d: shake answer %v", uid, f.Fields)
		}
	}
}

// TestCloseWithBusyConnections closes the server while clients keep
// sending: Close returns, and every client sees its connection closed.
func TestCloseWithBusyConnections(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), Seed: 1, Sets: 4, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var cs []*client
	for uid := uint32(0); uid < 16; uid++ {
		c := dial(t, ln.Addr().String())
		c.login(uid)
		cs = append(cs, c)
	}
	stop := make(chan struct{})
	for _, c := range cs {
		go func() {
			b := wire.Append(nil, ptr(wire.Shake(now(), 0)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write(b); err != nil {
					return
				}
			}
		}()
	}
	defer close(stop)
	waitFor(t, 5*time.Second, "traffic", func() bool { return s.Stats().Requests.Shake > 100 })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, c := range cs {
		c.expectClosed()
	}
}

func TestLoopsAtMostSets(t *testing.T) {
	s, _ := startServer(t, Config{Sets: 3, Loops: 8})
	if len(s.loops) != 3 {
		t.Fatalf("%d loops for 3 SETs", len(s.loops))
	}
	for i, w := range s.sets {
		if w.loop != s.loops[i%3] {
			t.Fatalf("SET %d on the wrong loop", i)
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestPeerShutdownAfterRequests: clients that send their requests and shut
// down their side at once are answered, then closed by the server, even
// when the end of the stream arrives together with the data (one edge for
// both).
func TestPeerShutdownAfterRequests(t *testing.T) {
	s, addr := startServer(t, Config{Sets: 2, Loops: 2})
	cs := make([]*client, 64)
	for i := range cs {
		cs[i] = dial(t, addr)
		cs[i].login(uint32(i))
	}
	req := wire.Append(nil, ptr(wire.Shake(now(), 0)))
	req = wire.Append(req, ptr(wire.Shake(now(), 0)))
	for _, c := range cs {
		c.sendRaw(req)
		c.nc.(*net.TCPConn).CloseWrite()
	}
	for i, c := range cs {
		for k := 0; k < 2; k++ {
			if f := c.expect(wire.CmdShakeResp); f.UID() != uint32(i) {
				t.Fatalf("conn %d: %v", i, f.Fields)
			}
		}
		c.expectClosed()
	}
	waitFor(t, 5*time.Second, "no connections", func() bool { return s.Stats().Connections == 0 })
}
