package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped scenarios parse, pass Check with their own targets (token
// files aside) and say what the brief of each promises.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../../scripts/scenarios/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	for _, f := range files {
		sc, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sc.Targets.AdminTokenFile = "" // lives on the target host
		if err := sc.Check(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		var verify, ledger bool
		for _, st := range sc.Steps {
			verify = verify || st.Verify == "ledger"
		}
		for _, th := range sc.Thresholds {
			ledger = ledger || (th.Metric == "ledger" && th.Word == "reconciled")
		}
		if !verify || !ledger {
			t.Errorf("%s: verify step %v, ledger threshold %v; want both", f, verify, ledger)
		}
	}
	sc, err := Load("../../scripts/scenarios/classic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var qps []int64
	shakes, sends := 0, 0
	for _, st := range sc.Steps {
		switch {
		case st.QPS != nil:
			qps = append(qps, *st.QPS)
		case st.Shake != nil:
			shakes += st.Shake.Total
			if st.Shake.Rate != 200 {
				t.Errorf("classic shake rate %d", st.Shake.Rate)
			}
		case st.Send != nil:
			sends += st.Send.Total
			if st.Send.Recipients != 3 || st.Send.Rate != 200 {
				t.Errorf("classic send %+v", st.Send)
			}
		}
	}
	if sc.Users != 1000000 || len(qps) != 2 || qps[0] != 30000 || qps[1] != 60000 || shakes != 80000 || sends != 40000 {
		t.Errorf("classic: users %d qps %v shakes %d sends %d", sc.Users, qps, shakes, sends)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		// unknown top-level key, named with its line
		{"top key", "users: 10\nuserz: 3\n", "line 2: unknown key userz"},
		// unknown key inside a step
		{"step key", "steps:\n  - qps: 10\n  - shake: {rate: 1, total: 2, rat: 3}\n", "line 3: unknown key rat"},
		// two actions in one step
		{"two actions", "steps:\n  - qps: 10\n  - {qps: 10, wait: 1s}\n", "line 3: a step holds exactly one"},
		// an empty step
		{"no action", "steps:\n  - {}\n", "line 2: a step holds exactly one"},
		// unknown condition
		{"wait_until", "steps:\n  - wait_until: tomorrow\n", "line 2: wait_until \"tomorrow\""},
		// not a duration
		{"wait", "steps:\n  - wait: soon\n", "line 2: \"soon\" is not a duration"},
		// timeout only with wait_until
		{"timeout", "steps:\n  - {qps: 1, timeout: 1s}\n", "line 2: timeout only bounds"},
		// a rate beyond what a plan may fire, and one that would overflow
		{"qps 10^12", "steps:\n  - qps: 1000000000000\n", "line 2: qps 1000000000000"},
		{"qps 9e18", "steps:\n  - qps: 9000000000000000000\n", "line 2: qps 9000000000000000000"},
		// more users than uids
		{"users", "users: 5000000000\n", "users: 5000000000"},
		// send to four
		{"recipients", "steps:\n  - send: {rate: 1, total: 1, recipients: 4}\n", "line 2: send needs"},
		// verify what?
		{"verify", "steps:\n  - verify: everything\n", "line 2: verify \"everything\""},
		// unknown metric
		{"metric", "thresholds:\n  - shake.p42 < 1ms\n", "line 2: threshold \"shake.p42 < 1ms\": unknown metric"},
		// a latency without a unit
		{"unit", "thresholds:\n  - shake.p99 < 50\n", "measured in time"},
		// a count that is not whole
		{"count", "thresholds:\n  - unanswered < 0.5\n", "whole number"},
		// no operator
		{"syntax", "thresholds:\n  - shake.p99 fast\n", "want METRIC OP VALUE"},
		// ledger compares words
		{"ledger op", "thresholds:\n  - ledger < reconciled\n", "only with == or !="},
		// a list where a threshold should be
		{"threshold shape", "thresholds:\n  - [a, b]\n", "line 2: a threshold is a string"},
		// not YAML
		{"yaml", "steps: [\n", "did not find expected"},
		// nothing
		{"empty", "", "empty file"},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want it to contain %q and be ErrInvalid", tt.name, err, tt.want)
		}
	}
}

func TestParseSteps(t *testing.T) {
	sc, err := Parse("t.yaml", []byte(`
name: t
users: 30
connect_rate: 100
connect_timeout: 20s
targets: {servers: [a:1], admins: [http://a:2], admin_token: tok}
steps:
  - wait_until: connected
  - qps: 300
  - {wait_until: shake_released, timeout: 3s}
  - wait: 1500ms
  - disconnect: true
thresholds:
  - shake.p99 <= 2ms
  - qps_error < 0.5%
  - ledger: reconciled
  - lost == 0
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Users != 30 || sc.ConnectRate != 100 || sc.ConnectTimeout != 20*time.Second || len(sc.Steps) != 5 {
		t.Fatalf("%+v", sc)
	}
	if s := sc.Steps[2]; s.WaitUntil != ShakeReleased || s.Timeout != 3*time.Second || s.Line != 10 {
		t.Errorf("step 3: %+v", s)
	}
	if s := sc.Steps[3]; s.Wait != 1500*time.Millisecond || s.String() != "wait 1.5s" {
		t.Errorf("step 4: %+v", s)
	}
	th := sc.Thresholds
	if th[0].Value != 2 || th[0].Op != "<=" || th[1].Value != 0.005 || th[2].Expr != "ledger: reconciled" || th[2].Word != "reconciled" || th[3].Line != 17 {
		t.Errorf("thresholds: %+v", th)
	}
	admins, err := sc.AdminList()
	if err != nil || len(admins) != 1 || admins[0].Token != "tok" {
		t.Errorf("admins %+v %v", admins, err)
	}
}

func TestApplyAndCheck(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := Parse("t.yaml", []byte("users: 10\ntargets: {servers: [a:1, b:1], admins: [http://a, http://b], admin_token: x}\n"+
		"steps:\n  - qps: 1000\n  - qps: 2000\n  - qps: 0\n  - shake: {rate: 1, total: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sc.Apply(Overrides{Servers: []string{"127.0.0.1:5"}, Admins: []string{"http://127.0.0.1:6"}, AdminTokenFiles: []string{tokFile}, Users: 7, QPS: 500})
	if err := sc.Check(); err != nil {
		t.Fatal(err)
	}
	if *sc.Steps[0].QPS != 500 || *sc.Steps[1].QPS != 1000 || *sc.Steps[2].QPS != 0 || sc.Users != 7 {
		t.Errorf("overrides: users %d qps %d %d %d", sc.Users, *sc.Steps[0].QPS, *sc.Steps[1].QPS, *sc.Steps[2].QPS)
	}
	admins, err := sc.AdminList()
	if err != nil || len(admins) != 1 || admins[0].Token != "secret" || admins[0].URL != "http://127.0.0.1:6" {
		t.Errorf("admins %+v %v", admins, err)
	}

	// Servers with their own tokens: one file per admin, in order.
	tokFile2 := filepath.Join(dir, "admin-token-2")
	if err := os.WriteFile(tokFile2, []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc.Apply(Overrides{Servers: []string{"a:1", "b:1"}, Admins: []string{"http://a", "http://b"}, AdminTokenFiles: []string{tokFile, tokFile2}})
	if err := sc.Check(); err != nil {
		t.Fatal(err)
	}
	admins, err = sc.AdminList()
	if err != nil || len(admins) != 2 || admins[0].Token != "secret" || admins[1].Token != "other" {
		t.Errorf("per-admin token files: %+v %v", admins, err)
	}
	// One token on the command line for both, replacing the files.
	sc.Apply(Overrides{AdminTokens: []string{"t"}})
	if admins, err = sc.AdminList(); err != nil || admins[0].Token != "t" || admins[1].Token != "t" {
		t.Errorf("one token for all: %+v %v", admins, err)
	}
	// Three files for two admins: refused, saying so.
	sc.Apply(Overrides{AdminTokenFiles: []string{tokFile, tokFile2, tokFile}})
	if err := sc.Check(); err == nil || !strings.Contains(err.Error(), "3 admin token files for 2 admins") {
		t.Errorf("3 token files for 2 admins: %v", err)
	}

	// Servers replaced without admins: a shake step cannot run.
	sc.Apply(Overrides{Servers: []string{"x:1"}})
	if err := sc.Check(); err == nil || !strings.Contains(err.Error(), "admin URLs") {
		t.Errorf("check without admins: %v", err)
	}
	// No users, no servers.
	if err := (&Scenario{Targets: Targets{Servers: []string{"a"}}}).Check(); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("no users: %v", err)
	}
	if err := (&Scenario{Users: 1}).Check(); err == nil {
		t.Errorf("no servers: no error")
	}
	// An unreadable token file.
	bad := &Scenario{Users: 1, Targets: Targets{Servers: []string{"a"}, Admins: []string{"http://a"}, AdminTokenFile: filepath.Join(dir, "none")}}
	if err := bad.Check(); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("missing token file: %v", err)
	}
	// One token per admin, as connect takes them; a count that matches
	// neither one nor the admins is a usage error.
	two := &Scenario{Users: 1, Targets: Targets{Servers: []string{"a:1", "b:1"}, Admins: []string{"http://a", "http://b"}, AdminToken: "x"}}
	two.Apply(Overrides{AdminTokens: []string{"ta", "tb"}})
	if admins, err := two.AdminList(); err != nil || len(admins) != 2 || admins[0].Token != "ta" || admins[1].Token != "tb" {
		t.Errorf("a token per admin: %+v %v", admins, err)
	}
	two.Apply(Overrides{AdminTokens: []string{"t1", "t2", "t3"}})
	if err := two.Check(); !errors.Is(err, ErrInvalid) {
		t.Errorf("3 tokens for 2 admins: %v", err)
	}
	two.Apply(Overrides{AdminTokens: []string{"all"}})
	if admins, err := two.AdminList(); err != nil || admins[0].Token != "all" || admins[1].Token != "all" {
		t.Errorf("one token for all: %+v %v", admins, err)
	}
}
