package server

import (
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

func TestLoginShakeNoneThenGot(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr)
	c.login(42)
	if f := c.shake(); f.Result() != wire.ResultNone || f.UID() != 42 {
		t.Fatalf("empty pool: %v", f.Fields)
	}
	if err := s.Shake(ShakeRequest{Rate: 1000, Total: 16, MinAmount: 5, MaxAmount: 5}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "16 issued", func() bool { return s.Stats().Shake.Issued == 16 })
	// Two of the 8 SETs' pools hold uid 42's: 16 round-robin over 8.
	var got int
	for i := 0; i < 3; i++ {
		f := c.shake()
		if f.Result() == wire.ResultGot {
			got++
			if f.Amount() != 5 || f.Env() < ShakeIDBase || f.Env() >= SendIDBase {
				t.Fatalf("grant %v", f.Fields)
			}
		} else if f.Result() != wire.ResultNone {
			t.Fatalf("result %d", f.Result())
		}
	}
	if got != 2 {
		t.Fatalf("got %d grants from a SET pool of 2", got)
	}
	st := s.Stats()
	if st.Requests.Shake != 4 || st.Results.Got != 2 || st.Results.None != 2 || st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.Shake.Issued != st.Shake.Granted+st.Shake.Pool || st.Shake.IssuedAmount != st.Shake.GrantedAmount+st.Shake.PoolAmount {
		t.Fatalf("issued != granted + pool: %+v", st.Shake)
	}
}

func TestSendOpenSharesSumAndRepeatIsIdempotent(t *testing.T) {
	s, addr := startServer(t, Config{})
	uids := []uint32{0, 9, 11} // uid 0 is a valid user
	cs := make([]*client, len(uids))
	for i, u := range uids {
		cs[i] = dial(t, addr)
		cs[i].login(u)
	}
	if err := s.Send(SendRequest{Rate: 100, Total: 1, Recipients: 3, MinAmount: 300, MaxAmount: 300}); err != nil {
		t.Fatal(err)
	}
	var sum uint32
	var env uint32
	shares := map[uint32]uint32{}
	for i, c := range cs {
		f := c.expect(wire.CmdEnvelope)
		env = f.Env()
		if f.Amount() != 300 || len(f.Recipients()) != 3 || !f.Names(uids[i]) || env != SendIDBase {
			t.Fatalf("ENVELOPE %v", f.Fields)
		}
		c.send(wire.Open(now(), uids[i], env))
		r := c.expect(wire.CmdOpenResp)
		if r.Env() != env || r.Amount() < 1 {
			t.Fatalf("OPEN_RESP %v", r.Fields)
		}
		shares[uids[i]] = r.Amount()
		sum += r.Amount()
	}
	if sum != 300 {
		t.Fatalf("shares %v sum to %d, want 300", shares, sum)
	}
	// Opening again returns the same share and pays nothing more.
	for i, c := range cs {
		c.send(wire.Open(now(), uids[i], env))
		if r := c.expect(wire.CmdOpenResp); r.Amount() != shares[uids[i]] {
			t.Fatalf("repeat OPEN by %d: %d, first %d", uids[i], r.Amount(), shares[uids[i]])
		}
	}
	// A non-recipient and an unknown envelope get 0.
	other := dial(t, addr)
	other.login(12)
	other.send(wire.Open(now(), 12, env), wire.Open(now(), 12, SendIDBase+99))
	for i := 0; i < 2; i++ {
		if r := other.expect(wire.CmdOpenResp); r.Amount() != 0 {
			t.Fatalf("non-recipient paid %d", r.Amount())
		}
	}
	st := s.Stats()
	if st.Send.Sent != 1 || st.Send.SentAmount != 300 || st.Send.Opened != 3 || st.Send.OpenedAmount != 300 || st.Requests.Open != 8 {
		t.Fatalf("send stats %+v requests %+v", st.Send, st.Requests)
	}
}

func TestReloginReplacesOlderConnection(t *testing.T) {
	s, addr := startServer(t, Config{})
	old := dial(t, addr)
	old.login(7)
	fresh := dial(t, addr)
	fresh.login(7)
	old.expectClosed()
	if f := fresh.shake(); f.Result() != wire.ResultNone {
		t.Fatalf("new connection: %v", f.Fields)
	}
	waitFor(t, 5*time.Second, "one connection", func() bool { return s.Stats().Connections == 1 })
	// A second LOGIN on the same connection for the same uid is fine; for
	// another uid it is refused and the connection stays uid 7's.
	fresh.send(wire.Login(now(), 7))
	if f := fresh.expect(wire.CmdLoginResp); f.Result() != wire.LoginOK {
		t.Fatalf("same-uid relogin %v", f.Fields)
	}
	fresh.send(wire.Login(now(), 8))
	if f := fresh.expect(wire.CmdLoginResp); f.Result() == wire.LoginOK {
		t.Fatalf("uid change accepted %v", f.Fields)
	}
	if f := fresh.shake(); f.UID() != 7 {
		t.Fatalf("uid changed: %v", f.Fields)
	}
}

func TestOverloadPastMaxQPS(t *testing.T) {
	s, addr := startServer(t, Config{MaxQPS: 20})
	c := dial(t, addr)
	c.login(1)
	const n = 200
	var batch []wire.Frame
	for i := 0; i < n; i++ {
		batch = append(batch, wire.Shake(now(), 1))
	}
	start := time.Now()
	c.send(batch...)
	var over, other int
	for i := 0; i < n; i++ {
		f := c.expect(wire.CmdShakeResp)
		switch f.Result() {
		case wire.ResultOverloaded:
			over++
		case wire.ResultNone:
			other++
		default:
			t.Fatal("unexpected result")
		}
	}
	// At most the burst plus 20/s for the time taken may pass.
	allowed := 2 + int(20*time.Since(start).Seconds()) + 1
	if other > allowed || over == 0 {
		t.Fatalf("%d answered, %d overloaded; at most %d may be answered", other, over, allowed)
	}
	if st := s.Stats(); st.Results.Overloaded != int64(over) || st.MaxQPS != 20 {
		t.Fatalf("stats %+v", st.Results)
	}
}

func TestLoginOutsideUsersRejected(t *testing.T) {
	s, addr := startServer(t, Config{Users: UIDRange{Lo: 100, Hi: 199, Set: true}})
	c := dial(t, addr)
	c.send(wire.Login(now(), 200))
	if f := c.expect(wire.CmdLoginResp); f.Result() != wire.LoginRejected || f.UID() != 200 {
		t.Fatalf("%v", f.Fields)
	}
	// Still not logged in: a SHAKE now is a protocol error.
	c.send(wire.Shake(now(), 200))
	c.expectClosed()
	ok := dial(t, addr)
	ok.login(199)
	ok.shake()
	waitFor(t, 5*time.Second, "protocol error counted", func() bool { return s.Stats().ProtocolErrors == 1 })
	us := s.Users()
	if len(us) != 1 || us[0].UID != 199 || us[0].Shake != 1 || us[0].None != 1 {
		t.Fatalf("users %+v", us)
	}
}

func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	cases := []struct {
		name  string
		login bool
		raw   []byte
	}{
		// LOGIN must be 16 bytes long.
		{"bad length", true, []byte{0, 20, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		// cmd 9 is not in the protocol.
		{"unknown cmd", true, []byte{0, 16, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		// Longer than the longest frame: rejected from its header alone.
		{"oversized length", true, []byte{0xff, 0xff, 0, 2}},
		// A valid SHAKE, but before any LOGIN.
		{"frame before login", false, wire.Append(nil, ptr(wire.Shake(now(), 3)))},
	}
	s, addr := startServer(t, Config{})
	good := dial(t, addr)
	good.login(1000)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := dial(t, addr)
			if tc.login {
				bad.login(uint32(i))
			}
			bad.sendRaw(tc.raw)
			bad.expectClosed()
			waitFor(t, 5*time.Second, "protocol error counted", func() bool { return s.Stats().ProtocolErrors == int64(i+1) })
			if f := good.shake(); f.UID() != 1000 {
				t.Fatalf("other connection: %v", f.Fields)
			}
		})
	}
}

func TestResponsesKeepRequestOrderAcrossCommits(t *testing.T) {
	// Grants wait for their journal commit; later NONE answers on the
	// same connection must not overtake them.
	s, addr := startServer(t, Config{Sets: 1})
	if err := s.Shake(ShakeRequest{Rate: 100000, Total: 50}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "issued", func() bool { return s.Stats().Shake.Pool == 50 })
	c := dial(t, addr)
	c.login(5)
	var batch []wire.Frame
	for i := 0; i < 120; i++ {
		batch = append(batch, wire.Shake(now(), 5))
	}
	c.send(batch...)
	last := uint32(0)
	for i := 0; i < 120; i++ {
		f := c.expect(wire.CmdShakeResp)
		want := wire.ResultGot
		if i >= 50 {
			want = wire.ResultNone
		}
		if f.Result() != want {
			t.Fatalf("answer %d: result %d, want %d", i, f.Result(), want)
		}
		if want == wire.ResultGot {
			if f.Env() <= last {
				t.Fatalf("grants out of pool order: %#x after %#x", f.Env(), last)
			}
			last = f.Env()
		}
	}
}
