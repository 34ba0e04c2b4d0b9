package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunThresholdFails runs `hbctl run` on a small scenario against real
// processes with a threshold no run can pass: exit 1, and both the summary
// and the error name the threshold and its measured value.
func TestRunThresholdFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	tmp := t.TempDir()
	srvDir, coordDir := filepath.Join(tmp, "server"), filepath.Join(tmp, "coord")
	srv := start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", srvDir)
	m := srv.match(t, serverLine, 15*time.Second)
	wire, admin, tokenFile := m[1], "http://"+m[2], m[3]
	co := start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", coordDir)
	m = co.match(t, coordLine, 15*time.Second)
	env := []string{"HBCTL_COORDINATOR=http://" + m[1], "HBCTL_COORDINATOR_DATA_DIR=" + coordDir}
	for i := range 2 {
		name := fmt.Sprintf("r%02d", i+1)
		start(t, name, env, "agent", "--name", name, "--bind", fmt.Sprintf("127.0.0.%d", i+2), "--capacity", "500",
			"--data-dir", filepath.Join(tmp, name))
	}
	r := &runEnv{t: t, env: env}
	waitFor(t, 15*time.Second, "two live agents", func() bool {
		n := 0
		for _, a := range r.status().Agents {
			if a.Alive {
				n++
			}
		}
		return n == 2
	})

	file := filepath.Join(tmp, "fail.yaml")
	// The targets in the file are wrong on purpose: the flags replace them.
	writeFile(t, file, `name: must-fail
targets: {servers: [127.0.0.1:1], admins: [http://127.0.0.1:1]}
users: 600
steps:
  - wait_until: connected
  - qps: 300
  - wait: 3s
thresholds:
  - shake.p99 < 0ms
  - unanswered == 0
  - qps_error < 1%
`)
	res := r.hb("run", file, "--server", wire, "--admin", admin, "--admin-token-file", tokenFile)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.out, res.err)
	}
	measured := regexp.MustCompile(`FAIL  shake\.p99 < 0ms\s+measured [0-9.]+(us|ms|s)\n`)
	if !measured.MatchString(res.out) || !strings.Contains(res.out, "PASS  unanswered == 0") ||
		!strings.Contains(res.out, "PASS  qps_error < 1%") || !strings.Contains(res.out, "verdict: FAILED") {
		t.Errorf("summary:\n%s", res.out)
	}
	if !regexp.MustCompile(`shake\.p99 < 0ms \(measured [0-9.]+(us|ms|s)\)`).MatchString(res.err) {
		t.Errorf("error message %q does not name the threshold and its value", res.err)
	}
	if st := r.status(); st.Connections.Established != 600 || st.Plan.Users != 600 {
		t.Errorf("the flags' targets were not used: %+v %+v", st.Connections, st.Plan)
	}

	// A scenario with an unknown key: exit 2 naming the line, nothing run.
	bad := filepath.Join(tmp, "bad.yaml")
	writeFile(t, bad, "users: 10\nsteps:\n  - qps: 10\n  - shake: {rate: 1, totl: 5}\n")
	res = r.hb("run", bad, "--server", wire)
	if res.code != 2 || !strings.Contains(res.err, "line 4: unknown key totl") {
		t.Errorf("bad scenario: exit %d, stderr %q; want 2 naming line 4", res.code, res.err)
	}
	// No token: exit 3, as every control command.
	res = hb(t, []string{env[0], "HBCTL_COORDINATOR_DATA_DIR=" + filepath.Join(tmp, "none")}, "run", file, "--server", wire,
		"--admin", admin, "--admin-token-file", tokenFile)
	if res.code != 3 {
		t.Errorf("no token: exit %d, stderr %q; want 3", res.code, res.err)
	}
	// No coordinator there: exit 4.
	res = hb(t, []string{"HBCTL_COORDINATOR=http://127.0.0.1:1", "HBCTL_TOKEN=x"}, "run", file, "--server", wire,
		"--admin", admin, "--admin-token-file", tokenFile)
	if res.code != 4 {
		t.Errorf("unreachable coordinator: exit %d, stderr %q; want 4", res.code, res.err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
