package checks_test

import (
	"reflect"
	"testing"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/server/ledger"
)

// fuzzConfig is small, so that each fuzz input's edits hit a large share
// of the ledgers.
var fuzzConfig = checkstest.Config{Servers: 2, Agents: 2, Users: 12, ShakesPerUser: 2,
	ShakeEnvelopes: 10, Granted: 8, SentEnvelopes: 4, Recipients: 3, Unknown: 4, Seed: 5}

var known = map[checks.Kind]bool{
	checks.KindDuplicateID: true, checks.KindGrantNotIssued: true, checks.KindGrantNotAsIssued: true,
	checks.KindGrantedTwice: true, checks.KindGrantMissingClient: true, checks.KindGrantMissingServer: true,
	checks.KindGrantAmount: true, checks.KindGrantUID: true, checks.KindPoolBalance: true,
	checks.KindIssuedStats: true, checks.KindGrantedStats: true, checks.KindNotSent: true,
	checks.KindSharesExceed: true, checks.KindSharesShort: true, checks.KindPaidTwice: true,
	checks.KindOpenNotRecipient: true, checks.KindOpenMissingClient: true, checks.KindOpenMissingServer: true,
	checks.KindOpenAmount: true, checks.KindNotifyNotRecipient: true, checks.KindRecipientNotNotified: true,
	checks.KindNotifyMissingClient: true, checks.KindNotifyMissingServer: true, checks.KindNotifyContent: true,
	checks.KindShakeCount: true, checks.KindShakeResults: true, checks.KindOpenCount: true,
}

// FuzzVerify edits clean ledgers at random, four bytes an edit (what,
// where, which field, value), and checks what must hold of any report:
// no panic, no input error, the input untouched, the verdict agreeing
// with the discrepancies, every discrepancy of a known kind and server.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 1, 7})
	f.Add([]byte{1, 0, 0, 0, 2, 5, 0, 0})
	f.Add([]byte{3, 9, 2, 1, 4, 1, 1, 200, 5, 0, 3, 1})
	f.Fuzz(func(t *testing.T, edits []byte) {
		in := checkstest.Generate(fuzzConfig)
		for len(edits) >= 4 {
			edit(in, edits[0], int(edits[1]), edits[2], edits[3])
			edits = edits[4:]
		}
		before := checkstest.Clone(in)
		rep, err := checks.Verify(in, checks.WithMaxDiscrepancies(3))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !reflect.DeepEqual(before, in) {
			t.Fatal("Verify modified its input")
		}
		var n uint64
		for k, c := range rep.DiscrepancyCounts {
			if !known[k] || c == 0 {
				t.Fatalf("count %d of kind %q", c, k)
			}
			n += c
		}
		if n != uint64(len(rep.Discrepancies))+rep.Truncated || len(rep.Discrepancies) > 3 {
			t.Fatalf("%d counted, %d kept, %d truncated", n, len(rep.Discrepancies), rep.Truncated)
		}
		if (n > 0) != (rep.Verdict == checks.VerdictDiscrepancies) {
			t.Fatalf("verdict %s with %d discrepancies", rep.Verdict, n)
		}
		names := map[string]bool{}
		for _, s := range in.Servers {
			names[s.Name] = true
		}
		for _, d := range rep.Discrepancies {
			if !known[d.Kind] || !names[d.Server] {
				t.Fatalf("discrepancy of unknown kind or server: %+v", d)
			}
		}
	})
}

// edit applies one fuzz edit: op picks what to change, at picks the
// record or user (modulo their number), field and val say how.
func edit(in *checks.Input, op byte, at int, field, val byte) {
	srv := &in.Servers[at%len(in.Servers)]
	agent := &in.Agents[at%len(in.Agents)]
	switch op % 8 {
	case 0: // a server record field
		editRecord(srv.Records, at, field, val)
	case 1: // an agent record field
		editRecord(agent.Records, at, field, val)
	case 2: // drop a server record
		if len(srv.Records) > 0 {
			i := at % len(srv.Records)
			srv.Records = append(srv.Records[:i], srv.Records[i+1:]...)
		}
	case 3: // drop an agent record
		if len(agent.Records) > 0 {
			i := at % len(agent.Records)
			agent.Records = append(agent.Records[:i], agent.Records[i+1:]...)
		}
	case 4: // duplicate a record on both sides
		if len(srv.Records) > 0 && len(agent.Records) > 0 {
			srv.Records = append(srv.Records, srv.Records[at%len(srv.Records)])
			agent.Records = append(agent.Records, agent.Records[at%len(agent.Records)])
		}
	case 5: // a counter
		if len(srv.Users) > 0 {
			u := &srv.Users[at%len(srv.Users)]
			*[]*uint64{&u.Shake, &u.Got, &u.None, &u.Overloaded, &u.Open}[int(field)%5] = uint64(val)
		}
		if len(agent.Users) > 0 {
			u := &agent.Users[at%len(agent.Users)]
			*[]*uint64{&u.Shake, &u.Got, &u.None, &u.Overloaded, &u.Lost, &u.Pending, &u.OpenSent, &u.OpenAnswered}[int(field)%8] = uint64(val)
		}
	case 6: // a server without admin API, or without stats
		if field%2 == 0 {
			*srv = checks.Server{Name: srv.Name, ClientOnly: true}
		} else {
			srv.Stats = nil
		}
	case 7: // a bound on unknown requests after a crash
		if len(agent.Users) > 0 {
			u := agent.Users[at%len(agent.Users)]
			agent.UnknownShakes = append(agent.UnknownShakes, checks.UnknownShakes{Srv: u.Srv, UIDs: []uint32{u.UID, uint32(field)}, Count: uint64(val)})
		}
	}
}

func editRecord(recs []ledger.Record, at int, field, val byte) {
	if len(recs) == 0 {
		return
	}
	r := &recs[at%len(recs)]
	switch field % 5 {
	case 0:
		r.Env ^= uint32(val)
	case 1:
		r.UID = uint32(val) % 16
	case 2:
		r.Amount = uint32(val)
	case 3:
		if len(r.To) > 0 {
			r.To[int(val)%len(r.To)] = uint32(val) % 16
		}
	case 4:
		r.T = int64(val)
	}
}
