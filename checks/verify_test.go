package checks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/server/ledger"
)

var update = flag.Bool("update", false, "rewrite golden files")

// configs are the simulated runs every clean and mutation test uses.
var configs = map[string]checkstest.Config{
	// the default: two servers, three agents, every kind of unknown outcome
	"default": checkstest.DefaultConfig,
	// one server, one agent, agents may leave "srv" out
	"single": {Servers: 1, Agents: 1, Users: 50, ShakesPerUser: 2, ShakeEnvelopes: 60, Granted: 40,
		SentEnvelopes: 10, Recipients: 2, Unknown: 4, Seed: 7},
	// more servers than agents, uid 0 in play, one recipient per envelope
	"wide": {Servers: 5, Agents: 2, Users: 400, ShakesPerUser: 4, ShakeEnvelopes: 500, Granted: 500,
		SentEnvelopes: 40, Recipients: 1, Unknown: 40, Seed: 3},
}

func mustVerify(t *testing.T, in *checks.Input) *checks.Report {
	t.Helper()
	rep, err := checks.Verify(in, checks.WithMaxDiscrepancies(0))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestCleanLedgersReconcile(t *testing.T) {
	for name, c := range configs {
		t.Run(name, func(t *testing.T) {
			in := checkstest.Generate(c)
			rep := mustVerify(t, in)
			if rep.Verdict != checks.VerdictReconciled || len(rep.Discrepancies) != 0 || len(rep.Skipped) != 0 {
				t.Fatalf("verdict %s, discrepancies %+v, skipped %+v", rep.Verdict, rep.Discrepancies, rep.Skipped)
			}
			if rep.Verdict.ExitCode() != 0 {
				t.Errorf("exit code %d", rep.Verdict.ExitCode())
			}
			tot := rep.Totals
			if tot.Server.Issued.Count != uint64(c.ShakeEnvelopes) || tot.Server.Issued != addAmounts(tot.Server.Granted, tot.Server.InPools) {
				t.Errorf("issued %+v, granted %+v, in pools %+v", tot.Server.Issued, tot.Server.Granted, tot.Server.InPools)
			}
			if tot.Server.Sent.Count != uint64(c.SentEnvelopes) || tot.Server.Opened.Cents != tot.Server.Sent.Cents {
				t.Errorf("sent %+v, opened %+v", tot.Server.Sent, tot.Server.Opened)
			}
			// The generator gives c.Unknown users one unknown outcome each,
			// a quarter of them a grant the client never received.
			un := rep.Unknown
			if got := un.Lost + un.Pending; got != uint64(c.Unknown) {
				t.Errorf("lost+pending = %d, want %d", got, c.Unknown)
			}
			if un.GrantsUnreceived.Count != uint64(c.Unknown/4) {
				t.Errorf("grants unreceived %d, want %d", un.GrantsUnreceived.Count, c.Unknown/4)
			}
			if tot.Client.Received.Count+un.GrantsUnreceived.Count != tot.Server.Granted.Count {
				t.Errorf("received %d + unknown %d != granted %d", tot.Client.Received.Count, un.GrantsUnreceived.Count, tot.Server.Granted.Count)
			}
		})
	}
}

func addAmounts(a, b checks.Amount) checks.Amount {
	return checks.Amount{Count: a.Count + b.Count, Cents: a.Cents + b.Cents}
}

func TestVerifyDoesNotModifyInput(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	if _, _, err := checkstest.CrashAfterCheckpoint(in, 3, 1, 2); err != nil {
		t.Fatal(err)
	}
	before := checkstest.Clone(in)
	mustVerify(t, in)
	if !reflect.DeepEqual(before, in) {
		t.Fatal("Verify modified its input")
	}
	// A second run draws on the same bounds and agrees.
	a, b := mustVerify(t, in), mustVerify(t, in)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs over one input differ")
	}
}

func TestClientOnlyCleanIsIncomplete(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	srv := checkstest.ServerName(1)
	if err := checkstest.ClientOnly(in, srv); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, in)
	if rep.Verdict != checks.VerdictIncomplete || rep.Verdict.ExitCode() != 2 {
		t.Fatalf("verdict %s", rep.Verdict)
	}
	if len(rep.Discrepancies) != 0 {
		t.Fatalf("discrepancies: %+v", rep.Discrepancies)
	}
	skipped := map[checks.Check]bool{}
	for _, s := range rep.Skipped {
		if s.Server != srv {
			t.Errorf("skipped a check of %s", s.Server)
		}
		skipped[s.Check] = true
	}
	for _, c := range []checks.Check{checks.CheckPoolBalance, checks.CheckGrantsMatch, checks.CheckGrantsIssued,
		checks.CheckRecipients, checks.CheckOpensMatch, checks.CheckShakeRequests, checks.CheckOpenRequests} {
		if !skipped[c] {
			t.Errorf("check %s not listed as skipped", c)
		}
	}
	// The client side of the client-only server is still counted, and
	// its unknown outcomes still reported.
	if rep.Servers[1].Client.Received.Count == 0 || rep.Unknown.Lost == 0 {
		t.Errorf("client side of %s not counted: %+v, unknown %+v", srv, rep.Servers[1].Client, rep.Unknown)
	}
}

func TestMissingStatsSkipsPoolBalance(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	in.Servers[0].Stats = nil
	rep := mustVerify(t, in)
	if rep.Verdict != checks.VerdictIncomplete || len(rep.Skipped) != 1 || rep.Skipped[0].Check != checks.CheckPoolBalance {
		t.Fatalf("verdict %s, skipped %+v", rep.Verdict, rep.Skipped)
	}
}

func TestStatsMismatch(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	st := in.Servers[0].Stats
	// An envelope in the pool the journal never issued: the stats no
	// longer match the journal, and nothing else is wrong.
	st.Issued++
	st.Pool++
	rep := mustVerify(t, in)
	if len(rep.Discrepancies) != 1 || rep.Discrepancies[0].Kind != checks.KindIssuedStats {
		t.Fatalf("discrepancies %+v", rep.Discrepancies)
	}
	// Stats that break issued = granted + pool by a cent.
	in = checkstest.Generate(checkstest.DefaultConfig)
	in.Servers[1].Stats.PoolAmount++
	rep = mustVerify(t, in)
	if len(rep.Discrepancies) != 1 || rep.Discrepancies[0].Kind != checks.KindPoolBalance {
		t.Fatalf("discrepancies %+v", rep.Discrepancies)
	}
}

func TestInputErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*checks.Input)
		want error
	}{
		// two servers with one name
		{"duplicate server", func(in *checks.Input) { in.Servers[1].Name = in.Servers[0].Name }, checks.ErrDuplicateServer},
		// an agent record naming a server not in the input
		{"unknown server", func(in *checks.Input) { in.Agents[0].Records[0].Srv = "127.9.9.9:1" }, checks.ErrUnknownServer},
		// counters without srv when there are two servers
		{"ambiguous server", func(in *checks.Input) { in.Agents[0].Users[0].Srv = "" }, checks.ErrAmbiguousServer},
		// an agent never writes issue records
		{"agent issue", func(in *checks.Input) { in.Agents[0].Records[0].Ev = ledger.EvIssue }, checks.ErrBadRecord},
		// an unknown event kind
		{"unknown event", func(in *checks.Input) { in.Servers[0].Records[0].Ev = "refund" }, checks.ErrBadRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := checkstest.Generate(checkstest.DefaultConfig)
			tt.edit(in)
			if _, err := checks.Verify(in); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSingleServerMayOmitSrv(t *testing.T) {
	in := checkstest.Generate(configs["single"])
	for ai := range in.Agents {
		a := &in.Agents[ai]
		for i := range a.Records {
			a.Records[i].Srv = ""
		}
		for i := range a.Users {
			a.Users[i].Srv = ""
		}
	}
	if rep := mustVerify(t, in); rep.Verdict != checks.VerdictReconciled {
		t.Fatalf("verdict %s: %+v", rep.Verdict, rep.Discrepancies)
	}
}

func TestTruncation(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	for ai := range in.Agents {
		in.Agents[ai].Records = nil // every grant, notification and share missing
	}
	full := mustVerify(t, in)
	rep, err := checks.Verify(in, checks.WithMaxDiscrepancies(5))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range rep.DiscrepancyCounts {
		n += c
	}
	if len(rep.Discrepancies) != 5 || n != uint64(len(full.Discrepancies)) || rep.Truncated != n-5 {
		t.Fatalf("kept %d, counted %d (full %d), truncated %d", len(rep.Discrepancies), n, len(full.Discrepancies), rep.Truncated)
	}
	if rep.Verdict != checks.VerdictDiscrepancies || rep.Verdict.ExitCode() != 1 {
		t.Fatalf("verdict %s", rep.Verdict)
	}
}

// TestReportGolden pins the JSON schema: a small run with one fault.
// Regenerate with go test ./checks -run ReportGolden -update.
func TestReportGolden(t *testing.T) {
	c := checkstest.Config{Servers: 1, Agents: 1, Users: 6, ShakesPerUser: 2, ShakeEnvelopes: 5, Granted: 4,
		SentEnvelopes: 1, Recipients: 2, Unknown: 3, Seed: 11}
	in := checkstest.Generate(c)
	if _, err := checkstest.GrantAmountOffByOne(in); err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(mustVerify(t, in), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("report differs from %s (rerun with -update if intended):\n%s", path, got)
	}
	var back checks.Report
	if err := json.Unmarshal(want, &back); err != nil || back.Verdict != checks.VerdictDiscrepancies {
		t.Fatalf("golden does not decode: %v, %s", err, back.Verdict)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := checkstest.Generate(checkstest.DefaultConfig), checkstest.Generate(checkstest.DefaultConfig)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one config gave two inputs")
	}
	c := checkstest.DefaultConfig
	c.Seed++
	if reflect.DeepEqual(a, checkstest.Generate(c)) {
		t.Fatal("another seed gave the same input")
	}
}

// TestGeneratedRecordsAreJournalLines: every generated record survives
// the journal's own encoding, so the simulation writes what servers and
// agents write.
func TestGeneratedRecordsAreJournalLines(t *testing.T) {
	in := checkstest.Generate(checkstest.DefaultConfig)
	var all []ledger.Record
	for _, s := range in.Servers {
		all = append(all, s.Records...)
	}
	for _, a := range in.Agents {
		all = append(all, a.Records...)
	}
	for i := range all {
		line := ledger.AppendJSON(nil, &all[i])
		back, err := ledger.ParseLine(line)
		if err != nil || !reflect.DeepEqual(back, all[i]) {
			t.Fatalf("%s: decoded as %+v, %v", line, back, err)
		}
	}
}
