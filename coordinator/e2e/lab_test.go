package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labScript is scripts/lab.sh, from this package's directory.
var labScript, _ = filepath.Abs("../../scripts/lab.sh")

// TestLab brings up the 17-host lab in network namespaces, runs
// lab-small.yaml through `scripts/lab.sh run` and checks that it passes
// and that `down` leaves no namespace, link or process behind.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("the 17-host lab")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	// One lab per machine (fixed addresses): wait for a lab test of
	// another go test process to finish first.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "hbctl-lab-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // after down, which is registered later
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	labDir := t.TempDir()
	env := []string{"HBCTL_LAB_DIR=" + labDir, "HBCTL_BIN=" + hbctlBin}
	lab := func(d time.Duration, args ...string) result {
		t.Helper()
		return runFor(t, d, env, labScript, args...)
	}
	var pids []int
	t.Cleanup(func() {
		// Down even when the test failed half-way, then prove it.
		if res := lab(time.Minute, "down"); res.code != 0 {
			t.Errorf("lab down: exit %d\n%s%s", res.code, res.out, res.err)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(out), "hb-h") {
			t.Errorf("namespaces left after down:\n%s", out)
		}
		out, _ = exec.Command("ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "hb-") {
				t.Errorf("link left after down: %s", l)
			}
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d left after down", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(labDir, "logs", "*.log"))
			for _, f := range logs {
				if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
					if len(b) > 1500 {
						b = b[len(b)-1500:]
					}
					t.Logf("--- %s:\n%s", filepath.Base(f), b)
				}
			}
		}
	})

	res := lab(90*time.Second, "up", "17")
	if res.code != 0 {
		t.Fatalf("lab up 17: exit %d\n%s%s", res.code, res.out, res.err)
	}
	files, _ := filepath.Glob(filepath.Join(labDir, "pids", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 19 {
		t.Fatalf("%d processes recorded, want a server, a coordinator and 17 agents: %v", len(pids), files)
	}
	// up is idempotent: a second one starts nothing new.
	if res := lab(60*time.Second, "up", "17"); res.code != 0 {
		t.Fatalf("second lab up: exit %d\n%s%s", res.code, res.out, res.err)
	}
	if again, _ := filepath.Glob(filepath.Join(labDir, "pids", "*")); len(again) != len(files) {
		t.Errorf("second up: %d processes, want %d", len(again), len(files))
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if n := strings.Count(string(out), "hb-h"); n != 17 {
		t.Fatalf("%d namespaces, want 17:\n%s", n, out)
	}

	scenario, _ := filepath.Abs("../../scripts/scenarios/lab-small.yaml")
	res = lab(4*time.Minute, "run", scenario)
	if res.code != 0 {
		t.Fatalf("lab run lab-small.yaml: exit %d\n%s%s", res.code, res.out, res.err)
	}
	for _, want := range []string{"17000 users", "ledger: reconciled (0 discrepancies)", "PASS  qps_error < 1%", "verdict: PASSED"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	// Every namespace's NIC was sampled as its host's.
	lp, err := os.ReadFile(filepath.Join(labDir, "data", "coordinator", "metrics.lp"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 17; i++ {
		tag := "net,host=h" + strconv.Itoa(100 + i)[1:] + ",interface=eth0"
		if !strings.Contains(string(lp), tag) {
			t.Errorf("no %s points in metrics.lp", tag)
		}
	}
	if d := time.Since(begin); d > 5*time.Minute {
		t.Errorf("lab up and run took %s, want under 5 minutes", d)
	}
	t.Logf("lab up 17 + lab-small.yaml: %s", time.Since(begin).Round(time.Second))
}

// TestLabNeedsRoot: without root the script refuses, saying why.
func TestLabNeedsRoot(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv to run the script as another user")
	}
	for _, cmd := range []string{"up", "run", "down"} {
		res := runFor(t, 30*time.Second, []string{"HBCTL_LAB_DIR=" + t.TempDir()}, setpriv,
			"--reuid=65534", "--regid=65534", "--clear-groups", "bash", labScript, cmd, "1")
		if res.code == 0 || !strings.Contains(res.err, "must run as root") {
			t.Errorf("lab.sh %s as nobody: exit %d, stderr %q", cmd, res.code, res.err)
		}
	}
}
