package agents

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// rawConn is one accepted connection of a scripted server.
type rawConn struct {
	t testing.TB
	c net.Conn
}

func (r rawConn) send(f wire.Frame) {
	r.t.Helper()
	if _, err := r.c.Write(wire.Append(nil, &f)); err != nil {
		r.t.Fatal(err)
	}
}

func (r rawConn) expect(cmd wire.Cmd) wire.Frame {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, cmd.Len())
	if _, err := io.ReadFull(r.c, b); err != nil {
		r.t.Fatalf("expecting %s: %v", cmd, err)
	}
	var f wire.Frame
	if _, err := wire.Decode(b, &f); err != nil || f.Cmd != cmd {
		r.t.Fatalf("expecting %s, got %s (%v)", cmd, f.Cmd, err)
	}
	return f
}

// loggedIn accepts the agent's connection for uid, answers its LOGIN and
// waits until e counts it established.
func loggedIn(t testing.TB, e *Engine, accept func() rawConn, uid uint32) rawConn {
	t.Helper()
	c := accept()
	if f := c.expect(wire.CmdLogin); f.UID() != uid {
		t.Fatalf("LOGIN uid %d, want %d", f.UID(), uid)
	}
	c.send(wire.LoginResp(0, uid, wire.LoginOK))
	waitFor(t, 5*time.Second, "login", func() bool { return e.Status().Established == 1 })
	return c
}

// scripted listens on 127.0.0.1:0 and hands out accepted connections.
func scripted(t testing.TB) (string, func() rawConn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	return ln.Addr().String(), func() rawConn {
		t.Helper()
		select {
		case c := <-conns:
			t.Cleanup(func() { c.Close() })
			return rawConn{t, c}
		case <-time.After(10 * time.Second):
			t.Fatal("no connection from the agent")
			return rawConn{}
		}
	}
}

// A server that misbehaves within the protocol: an ENVELOPE that does not
// name the user, a SHAKE_RESP with nothing pending, a frame only clients
// send, then a bad frame. The agent counts each, opens only its own
// envelope, and reconnects after the protocol error.
func TestAdversarialServer(t *testing.T) {
	addr, accept := scripted(t)
	e := newEngine(t, Config{Name: "adv", Servers: []string{addr}, Loops: 1, OpenDelayMin: time.Millisecond, OpenDelayMax: 2 * time.Millisecond})
	if err := e.Connect([]schedule.Range{{Lo: 7, Hi: 8}}); err != nil {
		t.Fatal(err)
	}
	c := loggedIn(t, e, accept, 7)

	c.send(wire.Envelope(0, 0x200001, 300, []uint32{1, 2, 3})) // not for uid 7
	c.send(wire.ShakeResp(0, 7, wire.ResultGot, 0x100001, 50)) // answers nothing
	c.send(wire.Shake(0, 7))                                   // a client's command
	c.send(wire.Envelope(0, 0x200002, 300, []uint32{5, 7}))
	open := c.expect(wire.CmdOpen)
	if open.UID() != 7 || open.Env() != 0x200002 {
		t.Fatalf("OPEN uid %d env %#x, want 7 0x200002", open.UID(), open.Env())
	}
	c.send(wire.OpenResp(0, 0x200002, 120))
	waitFor(t, 5*time.Second, "the share to be durable", func() bool {
		u := e.Users()
		return len(u) == 1 && u[0].OpenAnswered == 1
	})
	// Delivered again (at least once): opened once. The next OPEN is the
	// next envelope's, and the totals below count two OPENs in all.
	c.send(wire.Envelope(0, 0x200002, 300, []uint32{5, 7}))
	c.send(wire.Envelope(0, 0x200003, 80, []uint32{7}))
	if open := c.expect(wire.CmdOpen); open.Env() != 0x200003 {
		t.Fatalf("OPEN of %#x, want 0x200003: a repeated ENVELOPE was opened again", open.Env())
	}
	c.send(wire.OpenResp(0, 0x200003, 80))
	waitFor(t, 5*time.Second, "the second share to be durable", func() bool {
		return e.Users()[0].OpenAnswered == 2
	})

	// A bad length: the connection is closed and dialed again.
	c.c.Write([]byte{0, 99, 0, 2})
	c2 := accept()
	c2.expect(wire.CmdLogin)
	c2.send(wire.LoginResp(0, 7, wire.LoginOK))
	waitFor(t, 5*time.Second, "the second login", func() bool { return e.Status().Totals.ConnEstablished == 2 })

	tot := e.Status().Totals
	want := Counts{Notified: 4, NotNamed: 1, Anomalies: 2, OpenSent: 2, OpenAnswered: 2, OpenAmount: 200,
		ConnEstablished: 2, ConnClosed: 1, ProtocolErrors: 1}
	if tot != want {
		t.Errorf("totals\n got %+v\nwant %+v", tot, want)
	}
	u := e.Users()[0]
	if u.OpenSent != 2 || u.Got != 0 || u.Shake != 0 {
		t.Errorf("user counters %+v", u)
	}
	var recs []ledger.Record
	waitFor(t, 5*time.Second, "the second login journaled", func() bool {
		recs = readLedger(t, filepath.Join(e.cfg.DataDir, LedgerFile))
		n := 0
		for _, r := range recs {
			if r.Ev == ledger.EvLogin {
				n++
			}
		}
		return n == 2
	})
	var notify, opens, logins, downs int
	for _, r := range recs {
		switch r.Ev {
		case ledger.EvLogin, ledger.EvDown:
			if r.UID != 7 || r.Srv != addr {
				t.Errorf("connection record %+v", r)
			}
			if r.Ev == ledger.EvLogin {
				logins++
			} else {
				downs++
			}
		case ledger.EvNotify:
			notify++
			if r.UID != 7 || len(r.To) == 0 || (r.Amount != 300 && r.Amount != 80) {
				t.Errorf("notify record %+v", r)
			}
		case ledger.EvOpen:
			opens++
			if r.UID != 7 || (r.Env != 0x200002 || r.Amount != 120) && (r.Env != 0x200003 || r.Amount != 80) || r.Srv != addr {
				t.Errorf("open record %+v", r)
			}
		default:
			t.Errorf("unexpected record %+v", r)
		}
	}
	if notify != 4 || opens != 2 || logins != 2 || downs != 1 {
		t.Errorf("journal holds %d notify, %d open, %d login and %d down records, want 4, 2, 2 and 1", notify, opens, logins, downs)
	}
}

// SHAKEs are matched in order, a late answer still matches its expired
// request, and an overloaded answer makes the user skip its next fires.
func TestPendingTimeoutAndOverload(t *testing.T) {
	addr, accept := scripted(t)
	e := newEngine(t, Config{Name: "slow", Servers: []string{addr}, Loops: 1, Timeout: 300 * time.Millisecond})
	if err := e.Connect([]schedule.Range{{Lo: 0, Hi: 1}}); err != nil {
		t.Fatal(err)
	}
	c := loggedIn(t, e, accept, 0)

	plan, err := schedule.NewPlan(1, []schedule.Range{{Lo: 0, Hi: 1}}, time.Now(), 20)
	if err != nil {
		t.Fatal(err)
	}
	e.SetPlan(plan)
	c.expect(wire.CmdShake)
	c.expect(wire.CmdShake)
	waitFor(t, 5*time.Second, "both SHAKEs to time out", func() bool { return e.Status().Totals.Unanswered >= 2 })
	// Late answers: a grant (journaled even though late), then overloaded.
	c.send(wire.ShakeResp(0, 0, wire.ResultGot, 0x100007, 99))
	c.send(wire.ShakeResp(0, 0, wire.ResultOverloaded, 0, 0))
	waitFor(t, 5*time.Second, "the late grant to be durable", func() bool {
		u := e.Users()[0]
		return u.Got == 1 && u.Overloaded == 1
	})
	waitFor(t, 5*time.Second, "a skipped fire", func() bool { return e.Status().Totals.Skipped >= 1 })
	recs := envelopeRecords(readLedger(t, filepath.Join(e.cfg.DataDir, LedgerFile)))
	if len(recs) != 1 || recs[0].Ev != ledger.EvGrant || recs[0].Env != 0x100007 || recs[0].Amount != 99 {
		t.Errorf("journal %+v, want the one late grant", recs)
	}
	// Stop answering: the pending queue overflows and the connection is
	// closed, its pending SHAKEs counted lost.
	waitFor(t, 10*time.Second, "an overflow", func() bool { return e.Status().Totals.Overflows == 1 })
	u := e.Users()[0]
	if u.Lost == 0 || u.Shake != u.Got+u.None+u.Overloaded+u.Lost+u.Pending {
		t.Errorf("counters do not add up: %+v", u)
	}
}

// An OPEN whose connection closes before its answer is sent again after
// the next login: the server may have paid it, and a repeated OPEN gets
// the same share, so the client still learns it. An ENVELOPE delivered
// again meanwhile is not opened a second time.
func TestOpenLostWithItsConnectionIsSentAgain(t *testing.T) {
	addr, accept := scripted(t)
	e := newEngine(t, Config{Name: "reopen", Servers: []string{addr}, Loops: 1, OpenDelayMin: time.Millisecond, OpenDelayMax: 2 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err := e.Connect([]schedule.Range{{Lo: 3, Hi: 4}}); err != nil {
		t.Fatal(err)
	}
	c := accept()
	c.expect(wire.CmdLogin)
	c.send(wire.LoginResp(0, 3, wire.LoginOK))
	c.send(wire.Envelope(0, 0x200009, 50, []uint32{3}))
	if open := c.expect(wire.CmdOpen); open.Env() != 0x200009 {
		t.Fatalf("OPEN of %#x", open.Env())
	}
	c.c.Close() // reset before the answer

	c2 := accept()
	c2.expect(wire.CmdLogin)
	c2.send(wire.LoginResp(0, 3, wire.LoginOK))
	c2.send(wire.Envelope(0, 0x200009, 50, []uint32{3})) // delivered again: not paid yet, as far as the server knows
	if open := c2.expect(wire.CmdOpen); open.Env() != 0x200009 {
		t.Fatalf("OPEN after the login of %#x", open.Env())
	}
	c2.send(wire.OpenResp(0, 0x200009, 50))
	waitFor(t, 5*time.Second, "the share", func() bool { return e.Users()[0].OpenAnswered == 1 })
	// Had the repeated ENVELOPE been opened too, that OPEN would come
	// before the next envelope's.
	c2.send(wire.Envelope(0, 0x20000a, 20, []uint32{3}))
	if open := c2.expect(wire.CmdOpen); open.Env() != 0x20000a {
		t.Fatalf("OPEN of %#x: the envelope delivered again was opened twice after the login", open.Env())
	}
	if u := e.Users()[0]; u.OpenSent != 3 {
		t.Errorf("OPENs sent %d, want 3 (one lost, one again, one for the next envelope)", u.OpenSent)
	}
}

// A server that writes more than one read holds and hangs up in the same
// breath: every frame is read (a read that fills the buffer is read
// again, as the edge-triggered socket is not reported again), and the
// hang-up behind them is seen without a SHAKE failing on it.
func TestFloodThenHangUp(t *testing.T) {
	addr, accept := scripted(t)
	e := newEngine(t, Config{Name: "flood", Servers: []string{addr}, Loops: 1})
	if err := e.Connect([]schedule.Range{{Lo: 7, Hi: 8}}); err != nil {
		t.Fatal(err)
	}
	c := loggedIn(t, e, accept, 7)

	var b []byte
	n := 0
	for len(b) < 3*readBufLen {
		f := wire.Envelope(0, uint32(0x200000+n), 300, []uint32{1, 2, 3}) // not for uid 7
		b = wire.Append(b, &f)
		n++
	}
	go func() {
		c.c.Write(b)
		c.c.Close()
	}()
	waitFor(t, 10*time.Second, "every frame read", func() bool { return e.Status().Totals.Notified == uint64(n) })
	c2 := loggedIn(t, e, accept, 7) // the hang-up seen: the user is dialed again
	if tot := e.Status().Totals; tot.NotNamed != uint64(n) || tot.ConnClosed != 1 || tot.ProtocolErrors != 0 {
		t.Errorf("totals %+v: want %d frames not naming the user, one close, no protocol error", tot, n)
	}

	// A frame and the hang-up close behind it, most often reported as one
	// event: the end of the stream is read after the frame.
	f := wire.Envelope(0, 0x300000, 300, []uint32{1})
	c2.c.Write(wire.Append(nil, &f))
	c2.c.Close()
	c3 := accept()
	c3.expect(wire.CmdLogin)
	if tot := e.Status().Totals; tot.NotNamed != uint64(n)+1 || tot.ConnClosed != 2 {
		t.Errorf("totals %+v: want %d frames not naming the user, two closes", tot, n+1)
	}
}
