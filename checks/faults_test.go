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
// it (counted as lost on a reset) while no login brought it again since:
// delivery is at least once, so a login long before the end of the
// ledgers with the ENVELOPE still missing is reported, and so is a loss
// well before it, or none. A reset is not a blanket excuse.
func TestResetExcusesLostNotification(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	const never, recent = 1 << 62, 1<<62 + 1
	for _, c := range []struct {
		name    string
		down    int64 // the loss's time relative to the notification; 0: none
		login   int64 // a login after it, relative likewise, or recent; never: none
		excused bool
	}{
		// Reset after the ENVELOPE was written, the user still down.
		{"reset after, down at the end", 5, never, true},
		// The client saw the reset a little before the server wrote.
		{"reset just before", -checks.ResetSlack, never, true},
		// Back just before the ledgers were taken: the ENVELOPE the login
		// brings again may be on its way.
		{"reset, login just before the end", 5, recent, true},
		// Back long before the end: the login brought it again, or
		// should have.
		{"reset, login long before the end", 5, 6, false},
		// A reset long before says nothing about this ENVELOPE.
		{"reset long before", -checks.ResetSlack - 1, never, false},
		// No reset: a notification lost on a healthy connection.
		{"no reset", 0, never, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := checkstest.Clone(clean)
			want, tn := dropClientNotify(t, in)
			a := &in.Agents[agentOf(t, in, want.Server, *want.UID)]
			// The ledgers end well after the notification, on a user never
			// reset.
			end := tn + 3*checks.ResetSlack
			for ai := range in.Agents {
				for _, r := range in.Agents[ai].Records {
					end = max(end, r.T)
				}
			}
			a.Records = append(a.Records, ledger.Record{Ev: ledger.EvLogin, UID: 1 << 30, T: end, Srv: want.Server})
			if c.down != 0 {
				a.Records = append(a.Records, ledger.Record{Ev: ledger.EvDown, UID: *want.UID, T: tn + c.down, Srv: want.Server})
			}
			switch c.login {
			case never:
			case recent:
				a.Records = append(a.Records, ledger.Record{Ev: ledger.EvLogin, UID: *want.UID, T: end - 1, Srv: want.Server})
			default:
				a.Records = append(a.Records, ledger.Record{Ev: ledger.EvLogin, UID: *want.UID, T: tn + c.login, Srv: want.Server})
			}
			rep := mustVerify(t, in)
			if !c.excused {
				assertOnly(t, rep, want)
				return
			}
			if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictReconciled {
				t.Fatalf("verdict %s, %+v", rep.Verdict, rep.Discrepancies)
			}
			if u := rep.Unknown; u.NotificationsLostOnReset != 1 || u.ConnectionLosses != 1 {
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
