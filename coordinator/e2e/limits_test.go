package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A server at its connection limit refuses the users beyond it at once,
// and 'connect --wait' says which server refuses and why instead of
// running into its timeout.
func TestConnectWaitNamesRefusingServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	tmp := t.TempDir()
	srvDir := filepath.Join(tmp, "srv")
	s := serverOf(t, start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", srvDir, "--max-conns", "40"), srvDir)
	r := startCoordinatorAndAgent(t, tmp)
	begin := time.Now()
	res := r.hb("connect", "--server", s.wire, "--admin", s.admin, "--server-data-dir", s.dir,
		"--users", "100", "--wait", "--timeout", "50s")
	t.Logf("connect --wait: exit %d after %s\n%s", res.code, time.Since(begin).Round(time.Millisecond), res.err)
	if res.code != 1 || !strings.Contains(res.err, "server "+s.wire) || !strings.Contains(res.err, "refuses connections") ||
		!strings.Contains(res.err, "connection limit of 40") {
		t.Fatalf("connect --wait: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if strings.Contains(res.err, "deadline exceeded") {
		t.Fatalf("connect --wait ran into its timeout:\n%s", res.err)
	}
}

// startCoordinatorAndAgent starts a coordinator and one live agent (h02 on
// 127.0.0.2, 200 users) with their data under tmp.
func startCoordinatorAndAgent(t *testing.T, tmp string) *runEnv {
	t.Helper()
	coordDir := filepath.Join(tmp, "coord")
	co := start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", coordDir)
	m := co.match(t, coordLine, 15*time.Second)
	r := &runEnv{t: t, coordURL: "http://" + m[1], coordDir: coordDir}
	r.env = []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + coordDir}
	start(t, "agent", r.env, "agent", "--name", "h02", "--bind", "127.0.0.2", "--capacity", "200",
		"--data-dir", filepath.Join(tmp, "h02"), "--timeout", "2s")
	waitFor(t, 15*time.Second, "a live agent", func() bool {
		st := r.status()
		return len(st.Agents) == 1 && st.Agents[0].Alive
	})
	return r
}
