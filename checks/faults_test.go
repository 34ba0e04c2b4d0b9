package checks_test

import (
	"testing"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/server/ledger"
)

// agentOf is the index of the agent holding (srv, uid) in a generated input.
func agentOf(t *testing.T, in *checks.Input, srv string, uid uint32) int {
	t.Helper()
	for ai := range in.Agents {
		for _, u := range in.Agents[ai].Users {
			if u.UID == uid && (u.Srv == srv || u.Srv == "") {
				return ai
			}
		}
	}
	t.Fatalf("no agent holds uid %d of %s", uid, srv)
	return -1
}

// dropClientNotify applies LoseClientNotify and returns the notification
// it removed (its server time) with the discrepancy it should make.
func dropClientNotify(t *testing.T, in *checks.Input) (checkstest.Want, int64) {
	t.Helper()
	want, err := checkstest.LoseClientNotify(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range in.Servers[srvIndex(in, want.Server)].Records {
		if r.Ev == ledger.EvNotify && r.Env == *want.Env && r.UID == *want.UID {
			return want, r.T
		}
	}
	t.Fatalf("no server notify for %s", want)
	return want, 0
}

func srvIndex(in *checks.Input, name string) int {
	for i := range in.Servers {
		if in.Servers[i].Name == name {
			return i
		}
	}
	return -1
}

// TestResetExcusesLostNotification: an ENVELOPE the client never received
// is excused by a loss of the recipient's connection journaled at or after
// it (counted as lost on a reset), and reported when the loss came well
// before it or there was none: a reset is not a blanket excuse.
func TestResetExcusesLostNotification(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	for _, c := range []struct {
		name    string
		at      int64 // the loss's time relative to the notification; 0: no loss
		excused bool
	}{
		// The connection was reset after the ENVELOPE was written.
		{"reset after", 5, true},
		// The client saw the reset a little before the server wrote.
		{"reset just before", -checks.ResetSlack, true},
		// A reset long before says nothing about this ENVELOPE.
		{"reset long before", -checks.ResetSlack - 1, false},
		// No reset: a notification lost on a healthy connection.
		{"no reset", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := checkstest.Clone(clean)
			want, tn := dropClientNotify(t, in)
			if c.at != 0 {
				a := &in.Agents[agentOf(t, in, want.Server, *want.UID)]
				a.Records = append(a.Records,
					ledger.Record{Ev: ledger.EvDown, UID: *want.UID, T: tn + c.at, Srv: want.Server},
					ledger.Record{Ev: ledger.EvLogin, UID: *want.UID, T: tn + c.at + 1, Srv: want.Server})
			}
			rep := mustVerify(t, in)
			if !c.excused {
				assertOnly(t, rep, want)
				return
			}
			if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictReconciled {
				t.Fatalf("verdict %s, %+v", rep.Verdict, rep.Discrepancies)
			}
			if u := rep.Unknown; u.NotificationsLostOnReset != 1 || u.ConnectionLosses != 1 || u.Logins != 1 {
				t.Fatalf("unknown %+v: want 1 notification lost on 1 reset", u)
			}
		})
	}
}

// TestResetExcusesUnnotifiedRecipient: a recipient nobody notified (the
// server found its connection gone) is excused by its reset, not without.
func TestResetExcusesUnnotifiedRecipient(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	for _, reset := range []bool{true, false} {
		in := checkstest.Clone(clean)
		want, err := checkstest.RecipientNeverNotified(in)
		if err != nil {
			t.Fatal(err)
		}
		var ts int64
		for _, r := range in.Servers[srvIndex(in, want.Server)].Records {
			if r.Ev == ledger.EvSend && r.Env == *want.Env {
				ts = r.T
			}
		}
		if reset {
			a := &in.Agents[agentOf(t, in, want.Server, *want.UID)]
			a.Records = append(a.Records, ledger.Record{Ev: ledger.EvDown, UID: *want.UID, T: ts, Srv: want.Server})
		}
		rep := mustVerify(t, in)
		if !reset {
			assertOnly(t, rep, want)
			continue
		}
		if len(rep.Discrepancies) != 0 || rep.Unknown.NotificationsLostOnReset != 1 {
			t.Fatalf("reset: %+v, unknown %+v", rep.Discrepancies, rep.Unknown)
		}
	}
}

// TestServerCrashWindow: a server restarted from its counters checkpoint
// counts fewer requests than the clients saw answered, by what it received
// between the checkpoint and the crash. Its bound excuses that much, and
// no more; counters lost outright skip the request checks but not the
// journal's.
func TestServerCrashWindow(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	// A quiet user with answered SHAKEs, OPENs and no unknown outcome.
	var srv string
	var uid uint32
	var su *ledger.ServerUser
	func() {
		for si := range clean.Servers {
			for i := range clean.Servers[si].Users {
				u := &clean.Servers[si].Users[i]
				if u.None >= 2 && u.Open >= 1 {
					srv, uid, su = clean.Servers[si].Name, u.UID, u
					return
				}
			}
		}
		t.Fatal("no user to crash on")
	}()
	_ = su
	crash := func(count uint64) *checks.Input {
		in := checkstest.Clone(clean)
		s := &in.Servers[srvIndex(in, srv)]
		for i := range s.Users {
			if u := &s.Users[i]; u.UID == uid {
				// Two answers of none and one OPEN after the checkpoint.
				u.Shake -= 2
				u.None -= 2
				u.Open--
			}
		}
		if count > 0 {
			s.UnknownCounts = []checks.UnknownShakes{{UIDs: []uint32{uid, uid + 1000000}, Count: count}}
		}
		return in
	}
	t.Run("within the bound", func(t *testing.T) {
		rep := mustVerify(t, crash(5))
		if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictReconciled {
			t.Fatalf("%s: %+v", rep.Verdict, rep.Discrepancies)
		}
		if rep.Unknown.ServerCountsBound != 5 || rep.Unknown.ServerCountsUsed != 2 {
			t.Fatalf("unknown %+v: want bound 5, used 2", rep.Unknown)
		}
	})
	t.Run("beyond the bound", func(t *testing.T) {
		rep := mustVerify(t, crash(1))
		if rep.DiscrepancyCounts[checks.KindShakeCount] != 1 || rep.Verdict != checks.VerdictDiscrepancies {
			t.Fatalf("want shake_count of uid %d: %+v", uid, rep.Discrepancies)
		}
	})
	t.Run("no bound", func(t *testing.T) {
		rep := mustVerify(t, crash(0))
		if rep.DiscrepancyCounts[checks.KindShakeCount] != 1 || rep.DiscrepancyCounts[checks.KindOpenCount] != 1 {
			t.Fatalf("want shake_count and open_count of uid %d: %+v", uid, rep.DiscrepancyCounts)
		}
	})
	t.Run("counters lost", func(t *testing.T) {
		in := crash(0)
		in.Servers[srvIndex(in, srv)].CountersLost = true
		rep := mustVerify(t, in)
		if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictIncomplete {
			t.Fatalf("%s: %+v", rep.Verdict, rep.Discrepancies)
		}
		skipped := 0
		for _, sk := range rep.Skipped {
			if sk.Server == srv && (sk.Check == checks.CheckShakeRequests || sk.Check == checks.CheckOpenRequests) {
				skipped++
			}
		}
		if skipped != 2 {
			t.Fatalf("skipped %+v", rep.Skipped)
		}
		// The journal checks still run: a cent off is caught.
		want, err := checkstest.GrantAmountOffByOne(in)
		if err != nil {
			t.Fatal(err)
		}
		rep = mustVerify(t, in)
		if len(rep.Discrepancies) != 1 || !want.Match(&rep.Discrepancies[0]) || rep.Verdict.ExitCode() != 1 {
			t.Fatalf("want exactly %s, got %+v", want, rep.Discrepancies)
		}
	})
}
