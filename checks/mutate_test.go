package checks_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
)

// assertOnly fails unless rep holds exactly the wanted discrepancy.
func assertOnly(t *testing.T, rep *checks.Report, want checkstest.Want) {
	t.Helper()
	if len(rep.Discrepancies) != 1 || !want.Match(&rep.Discrepancies[0]) {
		t.Fatalf("want exactly %s, got %d:\n%+v", want, len(rep.Discrepancies), rep.Discrepancies)
	}
	if rep.Verdict != checks.VerdictDiscrepancies {
		t.Fatalf("verdict %s", rep.Verdict)
	}
}

// TestMutations injects each fault of checkstest.Mutations, one at a time,
// into the clean ledgers of every config: Verify must report exactly that
// discrepancy, with its kind and ids, and nothing else.
func TestMutations(t *testing.T) {
	for cname, c := range configs {
		clean := checkstest.Generate(c)
		if rep := mustVerify(t, clean); len(rep.Discrepancies) != 0 {
			t.Fatalf("%s: clean ledgers report %+v", cname, rep.Discrepancies)
		}
		for _, m := range checkstest.Mutations() {
			t.Run(cname+"/"+m.Name, func(t *testing.T) {
				in := checkstest.Clone(clean)
				want, err := m.Apply(in)
				if err != nil {
					t.Fatalf("apply: %v", err)
				}
				assertOnly(t, mustVerify(t, in), want)
			})
		}
	}
}

// TestMutationsClientOnly: the faults the agents' ledgers alone can prove
// are still caught, the same way, when the server has no admin API.
func TestMutationsClientOnly(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	for _, m := range checkstest.Mutations() {
		if !m.ClientProvable {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			in := checkstest.Clone(clean)
			want, err := m.Apply(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range clean.Servers {
				if err := checkstest.ClientOnly(in, s.Name); err != nil {
					t.Fatal(err)
				}
			}
			rep := mustVerify(t, in)
			assertOnly(t, rep, want)
			if len(rep.Skipped) == 0 {
				t.Fatal("no skipped checks listed")
			}
		})
	}
}

// TestClientOnlyUnnamedNotification: an ENVELOPE whose uid slots do not
// name the connection it arrived on is caught from the client's record
// alone.
func TestClientOnlyUnnamedNotification(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	srv := checkstest.ServerName(0)
	if err := checkstest.ClientOnly(in, srv); err != nil {
		t.Fatal(err)
	}
	var env, uid uint32
	found := false
	for ai := range in.Agents {
		recs := in.Agents[ai].Records
		for i := range recs {
			if r := &recs[i]; !found && r.Ev == "notify" && r.Srv == srv {
				r.To = slices.DeleteFunc(slices.Clone(r.To), func(u uint32) bool { return u == r.UID })
				r.To = append(r.To, r.UID+1_000_000)
				env, uid, found = r.Env, r.UID, true
			}
		}
	}
	if !found {
		t.Fatal("no notification to edit")
	}
	rep := mustVerify(t, in)
	// Only the one discrepancy: the copies the other recipients received
	// are the reference the edited one is compared with, not the reverse.
	assertOnly(t, rep, checkstest.Want{Kind: checks.KindNotifyNotRecipient, Server: srv, Env: &env, UID: &uid})
}

// TestUnknownOutcomeBounds: a grant lost with its connection is excused
// by the user's lost SHAKE and counted as unknown; one more lost grant
// than lost SHAKEs is a discrepancy.
func TestUnknownOutcomeBounds(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	base := mustVerify(t, clean).Unknown

	t.Run("covered", func(t *testing.T) {
		in := checkstest.Clone(clean)
		if _, err := checkstest.LoseGrantOnClosedConnection(in); err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, in)
		if len(rep.Discrepancies) != 0 || rep.Verdict != checks.VerdictReconciled {
			t.Fatalf("verdict %s: %+v", rep.Verdict, rep.Discrepancies)
		}
		un := rep.Unknown
		if un.GrantsUnreceived.Count != base.GrantsUnreceived.Count+1 || un.Lost != base.Lost+1 ||
			un.ResultsUnreceived != base.ResultsUnreceived+1 {
			t.Fatalf("unknown %+v, base %+v", un, base)
		}
	})
	t.Run("beyond", func(t *testing.T) {
		in := checkstest.Clone(clean)
		want, err := checkstest.LoseGrantsBeyondLost(in)
		if err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, in)
		assertOnly(t, rep, want)
		if rep.Unknown.GrantsUnreceived.Count != base.GrantsUnreceived.Count+1 {
			t.Fatalf("the excused grant is not counted as unknown: %+v", rep.Unknown)
		}
	})
}

// TestCrashCheckpointBounds: SHAKEs a killed agent sent after its last
// counters checkpoint are excused up to the bound it reports, per user or
// shared, and reported beyond it.
func TestCrashCheckpointBounds(t *testing.T) {
	clean := checkstest.Generate(checkstest.DefaultConfig)
	tests := []struct {
		name         string
		users, extra int
		bound        uint64
		failing      int // users past the bound: the last ones in uid order
	}{
		// one user, two SHAKEs after the checkpoint, bound two
		{"one user within", 1, 2, 2, 0},
		// one user, two SHAKEs, bound one
		{"one user beyond", 1, 2, 1, 1},
		// a bound shared by four users, one SHAKE each
		{"shared within", 4, 1, 4, 0},
		// the shared bound runs out before the last user
		{"shared beyond", 4, 1, 3, 1},
		// no bound at all
		{"no bound", 2, 1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := checkstest.Clone(clean)
			srv, uids, err := checkstest.CrashAfterCheckpoint(in, tt.users, tt.extra, tt.bound)
			if err != nil {
				t.Fatal(err)
			}
			rep := mustVerify(t, in)
			var want []checkstest.Want
			for _, uid := range uids[len(uids)-tt.failing:] {
				want = append(want,
					checkstest.Want{Kind: checks.KindShakeCount, Server: srv, UID: &uid},
					checkstest.Want{Kind: checks.KindShakeResults, Server: srv, UID: &uid})
			}
			if len(rep.Discrepancies) != len(want) {
				t.Fatalf("want %v, got %+v", want, rep.Discrepancies)
			}
			for i, w := range want {
				if !w.Match(&rep.Discrepancies[i]) {
					t.Errorf("discrepancy %d: want %s, got %+v", i, w, rep.Discrepancies[i])
				}
			}
			used := min(tt.bound, uint64(tt.users*tt.extra))
			if rep.Unknown.AfterCheckpointBound != tt.bound || rep.Unknown.AfterCheckpointUsed != used {
				t.Errorf("after checkpoint bound %d used %d, want %d and %d",
					rep.Unknown.AfterCheckpointBound, rep.Unknown.AfterCheckpointUsed, tt.bound, used)
			}
		})
	}
}

func TestMutationWithoutTarget(t *testing.T) {
	in := &checks.Input{Servers: []checks.Server{{Name: "127.0.0.1:1025"}}}
	for _, m := range checkstest.Mutations() {
		if _, err := m.Apply(checkstest.Clone(in)); !errors.Is(err, checkstest.ErrNoTarget) {
			t.Errorf("%s on empty ledgers: %v", m.Name, err)
		}
	}
}
