package server

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/wire"
)

func TestRestartContinuesPoolsIdsAndShares(t *testing.T) {
	dir := t.TempDir()
	s1, addr := startServer(t, Config{DataDir: dir, Sets: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.login(0)
	b.login(1)
	if err := s1.Shake(ShakeRequest{Rate: 100000, Total: 10}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "issued", func() bool { return s1.Stats().Shake.Issued == 10 })
	for i := 0; i < 3; i++ {
		a.shake()
	}
	if err := s1.Send(SendRequest{Rate: 1000, Total: 1, Recipients: 2}); err != nil {
		t.Fatal(err)
	}
	env := a.expect(wire.CmdEnvelope)
	b.expect(wire.CmdEnvelope)
	a.send(wire.Open(now(), 0, env.Env()))
	r := a.expect(wire.CmdOpenResp)
	share := r.Amount()
	before := s1.Stats()
	s1.Close()

	s2, addr2 := startServer(t, Config{DataDir: dir, Sets: 2})
	after := s2.Stats()
	if after.Shake != before.Shake || after.Send != before.Send {
		t.Fatalf("restart changed totals:\n%+v %+v\n%+v %+v", before.Shake, before.Send, after.Shake, after.Send)
	}
	a2, b2 := dial(t, addr2), dial(t, addr2)
	a2.login(0)
	b2.login(1)
	// At least once: b never opened it, so its login delivers it again;
	// a opened it, so nothing comes to a.
	if f := b2.expect(wire.CmdEnvelope); f.Env() != env.Env() || f.Amount() != env.Amount() {
		t.Fatalf("redelivered %v, want envelope %d", f.Fields, env.Env())
	}
	// The same share again, paid once; the other recipient gets the rest.
	a2.send(wire.Open(now(), 0, env.Env()))
	r = a2.expect(wire.CmdOpenResp)
	if got := r.Amount(); got != share {
		t.Fatalf("repeat OPEN after restart: %d, first %d", got, share)
	}
	b2.send(wire.Open(now(), 1, env.Env()))
	r = b2.expect(wire.CmdOpenResp)
	if got := r.Amount(); got+share != env.Amount() {
		t.Fatalf("shares %d + %d != %d", share, got, env.Amount())
	}
	// The pools came back and new ids continue past the old ones.
	if err := s2.Shake(ShakeRequest{Rate: 100000, Total: 10}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "issued", func() bool { return s2.Stats().Shake.Issued == 20 })
	seen := map[uint32]bool{}
	for {
		f := a2.shake()
		if f.Result() != wire.ResultGot {
			break
		}
		if seen[f.Env()] || f.Env() == 0 {
			t.Fatalf("envelope %#x granted twice", f.Env())
		}
		seen[f.Env()] = true
	}
	for {
		f := b2.shake()
		if f.Result() != wire.ResultGot {
			break
		}
		if seen[f.Env()] {
			t.Fatalf("envelope %#x granted twice", f.Env())
		}
		seen[f.Env()] = true
	}
	st := s2.Stats()
	if st.Shake.Pool != 0 || st.Shake.Granted != 20 || st.Shake.IssuedAmount != st.Shake.GrantedAmount {
		t.Fatalf("after draining: %+v", st.Shake)
	}
	if err := s2.Send(SendRequest{Rate: 1000, Total: 1, Recipients: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "sent", func() bool { return s2.Stats().Send.Sent == 2 })
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	s, addr := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, MaxPending: 4096})
	// A client with a tiny receive window that never reads.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	slow := &client{t: t, nc: nc}
	slow.login(77)
	good := dial(t, addr)
	good.login(78)
	var batch []byte
	for i := 0; i < 1000; i++ {
		batch = wire.Append(batch, ptr(wire.Shake(now(), 77)))
	}
	stop := time.Now().Add(20 * time.Second)
	for s.Stats().SlowConsumers == 0 {
		if time.Now().After(stop) {
			t.Fatal("slow consumer never disconnected")
		}
		nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := nc.Write(batch); err != nil {
			var ne net.Error
			if ne, _ = err.(net.Error); ne == nil || !ne.Timeout() {
				break // closed by the server
			}
		}
	}
	waitFor(t, 5*time.Second, "slow consumer counted", func() bool { return s.Stats().SlowConsumers == 1 })
	if f := good.shake(); f.UID() != 78 {
		t.Fatalf("other client: %v", f.Fields)
	}
}
