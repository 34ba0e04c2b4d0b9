package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/checks/checkstest"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
)

func ptr(v uint32) *uint32 { return &v }

func report(n int) *api.VerifyResponse {
	rep := &checks.Report{Verdict: checks.VerdictDiscrepancies, DiscrepancyCounts: map[checks.Kind]uint64{}}
	for i := range n {
		k := checks.KindGrantAmount
		if i%2 == 1 {
			k = checks.KindShakeCount
		}
		rep.Discrepancies = append(rep.Discrepancies, checks.Discrepancy{Kind: k, Server: "s", UID: ptr(uint32(i)), Detail: "d"})
		rep.DiscrepancyCounts[k]++
	}
	rep.Totals.Server.Granted = checks.Amount{Count: 7, Cents: 700}
	rep.Totals.Client.Received = checks.Amount{Count: 6, Cents: 650}
	return &api.VerifyResponse{Report: rep, ExitCode: 1}
}

func TestRenderDiscrepancies(t *testing.T) {
	var b bytes.Buffer
	Render(&b, report(60))
	out := b.String()
	if got := strings.Count(out, "server=s uid="); got != ShownInFull {
		t.Errorf("%d discrepancies in full, want %d:\n%s", got, ShownInFull, out)
	}
	for _, want := range []string{"60 discrepancies", "... 10 more; by kind:", "grant_amount             30",
		"shake_count              30", "verdict: discrepancies (exit 1)", "700", "650"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderReconciled(t *testing.T) {
	var b bytes.Buffer
	Render(&b, &api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictReconciled}})
	out := b.String()
	if strings.Contains(out, "discrepancies") || !strings.HasSuffix(out, "verdict: reconciled (exit 0)\n") {
		t.Errorf("output:\n%s", out)
	}
}

// TestExitCodes runs against a coordinator on 127.0.0.1 that answers as
// told: the response's exit code, 2 for a refusal, 3 for a refused token,
// 4 for no coordinator at all; --json is written in every answered case.
func TestExitCodes(t *testing.T) {
	var status int
	var body any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathVerify || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	defer srv.Close()
	code := func(err error) int {
		var ec ucli.ExitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		if err != nil {
			return -1
		}
		return 0
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		status int
		body   any
		want   int
	}{
		{"reconciled", 200, &api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictReconciled}}, 0},
		{"discrepancies", 200, report(3), 1},
		{"could not verify", 200, &api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictIncomplete}, ExitCode: 2, Problems: []string{"agent h01: did not upload"}}, 2},
		{"refused", 409, api.Error{Error: "a verification is already running"}, 2},
		{"token", 401, api.Error{Error: "bad token"}, 3},
	} {
		status, body = c.status, c.body
		path := filepath.Join(dir, c.name+".json")
		var out bytes.Buffer
		err := run(context.Background(), client.New(srv.URL, "t"), api.VerifyRequest{}, path, &out)
		if got := code(err); got != c.want {
			t.Errorf("%s: exit %d (%v), want %d", c.name, got, err, c.want)
		}
		if _, serr := os.Stat(path); (c.status == 200) != (serr == nil) {
			t.Errorf("%s: --json file written: %v", c.name, serr)
		}
	}
	var out bytes.Buffer
	err := run(context.Background(), client.New("http://127.0.0.1:1", "t"), api.VerifyRequest{}, "", &out)
	if got := code(err); got != 4 {
		t.Errorf("unreachable: exit %d (%v), want 4", got, err)
	}
}

// TestOfflineInput re-checks saved ledgers with no coordinator: clean
// ones exit 0, one cent changed exits 1 naming the envelope, a file that
// is not saved ledgers exits 2 saying so.
func TestOfflineInput(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, in *checks.Input) string {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	code := func(err error) int {
		var ec ucli.ExitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		if err != nil {
			return -1
		}
		return 0
	}
	clean := checkstest.Generate(checkstest.DefaultConfig)
	var out bytes.Buffer
	if err := offline(save("clean.json", clean), false, "", &out); err != nil {
		t.Fatalf("clean: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "verdict: reconciled (exit 0)") || !strings.Contains(out.String(), "shake granted/received") {
		t.Errorf("clean output:\n%s", out.String())
	}

	bad := checkstest.Clone(clean)
	want, err := checkstest.GrantAmountOffByOne(bad)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	jsonOut := filepath.Join(dir, "report.json")
	err = offline(save("bad.json", bad), false, jsonOut, &out)
	if code(err) != 1 || !strings.Contains(out.String(), fmt.Sprintf("grant_amount           server=%s", want.Server)) ||
		!strings.Contains(out.String(), fmt.Sprintf("env=%d", *want.Env)) {
		t.Fatalf("one cent off: exit %d (%v), want 1 naming env %d:\n%s", code(err), err, *want.Env, out.String())
	}
	var resp api.VerifyResponse
	if b, err := os.ReadFile(jsonOut); err != nil || json.Unmarshal(b, &resp) != nil || resp.ExitCode != 1 || len(resp.Report.Discrepancies) != 1 {
		t.Fatalf("--json: %v %+v", err, resp)
	}

	for name, body := range map[string]string{"garbage.json": "not json", "empty.json": "{}"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if err := offline(p, false, "", &out); code(err) != 2 || !strings.Contains(err.Error(), "saved by --save-input") {
			t.Errorf("%s: exit %d (%v), want 2 saying what it is not", name, code(err), err)
		}
	}
	if err := offline(filepath.Join(dir, "missing.json"), false, "", &out); code(err) != 2 {
		t.Errorf("missing file: exit %d (%v)", code(err), err)
	}
}

// TestRenderNothingRead: when nothing could be reconciled, no figure is
// printed as a zero.
func TestRenderNothingRead(t *testing.T) {
	var b bytes.Buffer
	Render(&b, &api.VerifyResponse{Report: &checks.Report{Verdict: checks.VerdictIncomplete, Servers: []checks.ServerSummary{}},
		ExitCode: 2, Problems: []string{"agent h01: did not upload its ledger"}})
	out := b.String()
	if strings.Contains(out, "shake issued") || strings.Contains(out, " 0 ") || !strings.Contains(out, "no figures") ||
		!strings.Contains(out, "agent h01: did not upload") || !strings.HasSuffix(out, "verdict: incomplete (exit 2)\n") {
		t.Errorf("output:\n%s", out)
	}
}
