package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labScript is scripts/lab.sh, from this package's directory.
var labScript, _ = filepath.Abs("../../scripts/lab.sh")

// TestLab brings up the 17-host lab in network namespaces with 8 servers
// (136,000 users: more than one process may hold here), runs
// lab-136k.yaml through `scripts/lab.sh run` and checks that it passes,
// that every server and every host held its share, and that `down` leaves
// no namespace, link, address, mount or process behind.
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
	// /run/netns stays mounted after down only when it was before up.
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	netnsMounted := strings.Contains(string(mi), " /run/netns ")
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
		out, _ = exec.Command("ip", "-o", "addr", "show").Output()
		if strings.Contains(string(out), " 198.18.") {
			t.Errorf("lab addresses left after down:\n%s", out)
		}
		if !netnsMounted {
			if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), " /run/netns") {
				t.Errorf("/run/netns mounts left after down")
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

	up := []string{"up", "17", "--servers", "8", "--users-per-host", "8000"}
	res := lab(2*time.Minute, up...)
	if res.code != 0 {
		t.Fatalf("lab %s: exit %d\n%s%s", strings.Join(up, " "), res.code, res.out, res.err)
	}
	files, _ := filepath.Glob(filepath.Join(labDir, "pids", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 26 {
		t.Fatalf("%d processes recorded, want 8 servers, a coordinator and 17 agents: %v", len(pids), files)
	}
	// up is idempotent: a second one starts nothing new; another shape is
	// refused, not half applied.
	if res := lab(time.Minute, up...); res.code != 0 {
		t.Fatalf("second lab up: exit %d\n%s%s", res.code, res.out, res.err)
	}
	if again, _ := filepath.Glob(filepath.Join(labDir, "pids", "*")); len(again) != len(files) {
		t.Errorf("second up: %d processes, want %d", len(again), len(files))
	}
	if res := lab(time.Minute, "up", "17", "--servers", "4", "--users-per-host", "8000"); res.code == 0 || !strings.Contains(res.err, "up with 8 servers, not 4") {
		t.Errorf("up with another server count: exit %d, stderr %q", res.code, res.err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if n := strings.Count(string(out), "hb-h"); n != 17 {
		t.Fatalf("%d namespaces, want 17:\n%s", n, out)
	}

	scenario, _ := filepath.Abs("../../scripts/scenarios/lab-136k.yaml")
	run := time.Now()
	res = lab(5*time.Minute, "run", scenario)
	if res.code != 0 {
		t.Fatalf("lab run lab-136k.yaml: exit %d\n%s%s", res.code, res.out, res.err)
	}
	for _, want := range []string{"connect 136000 users to [198.18.0.1:1025 198.18.0.2:1025", "198.18.0.8:1025]",
		"136000 users", "ledger: reconciled (0 discrepancies)", "PASS  unanswered == 0", "verdict: PASSED"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	runTook := time.Since(run)

	// Every server held its 17,000 users (u mod 8) and every host its
	// 8,000, as status reports them.
	res = lab(time.Minute, "status")
	if res.code != 0 {
		t.Fatalf("lab status: exit %d\n%s%s", res.code, res.out, res.err)
	}
	for k := 1; k <= 8; k++ {
		want := regexp.MustCompile(fmt.Sprintf(`(?m)^  s%02d 198\.18\.0\.%d:1025 +17000$`, k, k))
		if !want.MatchString(res.out) {
			t.Errorf("status lacks server s%02d with 17000 connections:\n%s", k, res.out)
		}
	}
	for i := 1; i <= 17; i++ {
		if !strings.Contains(res.out, fmt.Sprintf("  h%02d 1 agents (1 alive) 8000\n", i)) {
			t.Errorf("status lacks host h%02d with 8000 connections:\n%s", i, res.out)
		}
	}
	if !strings.Contains(res.out, "  total 136000 of 136000") {
		t.Errorf("status lacks the total:\n%s", res.out)
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
	t.Logf("lab up 17 --servers 8: %s, lab-136k.yaml: %s, in all %s", run.Sub(begin).Round(time.Second),
		runTook.Round(time.Second), time.Since(begin).Round(time.Second))
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
