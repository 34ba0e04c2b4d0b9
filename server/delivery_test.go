package server

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// TestDeliveryAtLeastOnce: an ENVELOPE is pushed again on every login of a
// recipient that has not opened it, whether its connection was reset after
// the push or was down when the envelope was sent, and never again once
// opened. Logins and losses are journaled.
func TestDeliveryAtLeastOnce(t *testing.T) {
	s, addr := startServer(t, Config{Sets: 4})
	a := dial(t, addr)
	a.login(5)
	if err := s.Send(SendRequest{Rate: 1000, Total: 1, Recipients: 1}); err != nil {
		t.Fatal(err)
	}
	env := a.expect(wire.CmdEnvelope)
	// The connection is reset before the client opened it.
	a.nc.Close()
	waitFor(t, 5*time.Second, "the loss seen", func() bool { return s.Stats().Connections == 0 })

	b := dial(t, addr)
	b.login(5)
	if f := b.expect(wire.CmdEnvelope); f.Env() != env.Env() || f.Amount() != env.Amount() {
		t.Fatalf("redelivered %v, want %v", f.Fields, env.Fields)
	}
	// Logging in again on another connection replaces b and delivers again.
	c := dial(t, addr)
	c.login(5)
	c.expect(wire.CmdEnvelope)
	b.expectClosed()
	c.send(wire.Open(now(), 5, env.Env()))
	if r := c.expect(wire.CmdOpenResp); r.Amount() != env.Amount() {
		t.Fatalf("share %d of %d", r.Amount(), env.Amount())
	}
	// Opened: the next login delivers nothing; a SHAKE's answer comes first.
	c.nc.Close()
	waitFor(t, 5*time.Second, "the loss seen", func() bool { return s.Stats().Connections == 0 })
	d := dial(t, addr)
	d.login(5)
	if f := d.shake(); f.Cmd != wire.CmdShakeResp {
		t.Fatalf("after the open, got %s", f.Cmd)
	}

	var logins, downs, notifies int
	waitFor(t, 5*time.Second, "journaled", func() bool {
		b, err := os.ReadFile(s.JournalPath())
		if err != nil {
			t.Fatal(err)
		}
		rp, err := ledger.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		logins, downs, notifies = 0, 0, 0
		for _, r := range rp.Records {
			switch r.Ev {
			case ledger.EvLogin:
				logins++
			case ledger.EvDown:
				downs++
			case ledger.EvNotify:
				notifies++
			}
		}
		return logins == 4 && downs == 3
	})
	if notifies != 3 {
		t.Fatalf("%d notify records, want 3 (one push, two redeliveries)", notifies)
	}
}
