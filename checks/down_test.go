package checks_test

import (
	"testing"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/server/ledger"
)

// TestRecipientDownExcused: a recipient no ENVELOPE reached is excused
// when its agent reports itself down (an after-checkpoint span) at the
// time of the send, and reported otherwise: outside the span, or for a
// user the span does not list.
func TestRecipientDownExcused(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	base := mustVerify(t, clean).Unknown.RecipientsNotNotified

	broken := checkstest.Clone(clean)
	want, err := checkstest.RecipientNeverNotified(broken)
	if err != nil {
		t.Fatal(err)
	}
	var sendT int64 = -1
	for _, s := range broken.Servers {
		for _, r := range s.Records {
			if s.Name == want.Server && r.Ev == ledger.EvSend && r.Env == *want.Env {
				sendT = r.T
			}
		}
	}
	if sendT < 0 {
		t.Fatal("no send record for the mutated envelope")
	}
	span := func(uid uint32, from, to int64) *checks.Input {
		in := checkstest.Clone(broken)
		a := &in.Agents[0]
		a.UnknownShakes = append(a.UnknownShakes, checks.UnknownShakes{Srv: want.Server, UIDs: []uint32{uid},
			FromMillis: from, ToMillis: to})
		return in
	}

	t.Run("down at the send", func(t *testing.T) {
		rep := mustVerify(t, span(*want.UID, sendT-1000, sendT+1000))
		if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictReconciled {
			t.Fatalf("verdict %s: %+v", rep.Verdict, rep.Discrepancies)
		}
		if got := rep.Unknown.RecipientsNotNotified; got != base+1 {
			t.Fatalf("recipients_not_notified %d, want %d", got, base+1)
		}
	})
	t.Run("down after the send", func(t *testing.T) {
		assertOnly(t, mustVerify(t, span(*want.UID, sendT+1, sendT+1000)), want)
	})
	t.Run("another user down", func(t *testing.T) {
		assertOnly(t, mustVerify(t, span(*want.UID+1, sendT-1000, sendT+1000)), want)
	})
}
