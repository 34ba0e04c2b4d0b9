package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pidLine is how the demo announces each child it starts.
var pidLine = regexp.MustCompile(`^demo: (server|coordinator|agent \S+)\s+pid (\d+)`)

// runFor runs a command to completion within d (killed by PID after).
func runFor(t *testing.T, d time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish in %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), d, out.String(), errb.String())
	}
	r := result{out: out.String(), err: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// childPIDs are the PIDs the demo printed for its children.
func childPIDs(out string) []int {
	var pids []int
	for _, l := range strings.Split(out, "\n") {
		if m := pidLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			pids = append(pids, n)
		}
	}
	return pids
}

// alive says whether a process with this PID exists (a zombie counts).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	tmp := t.TempDir()
	report := filepath.Join(tmp, "report.html")
	begin := time.Now()
	res := runFor(t, 150*time.Second, nil, hbctlBin, "demo", "--users", "2000", "--agents", "2", "--qps", "500",
		"--dir", tmp, "--out", report)
	if res.code != 0 {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.out, res.err)
	}
	t.Logf("demo at 2,000 users, 2 agents, 500 QPS: %s", time.Since(begin).Round(100*time.Millisecond))
	for _, want := range []string{"ledger: reconciled (0 discrepancies)", "PASS  ledger: reconciled", "PASS  qps_error < 1%", "verdict: PASSED", "demo: report " + report} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q:\n%s", want, res.out)
		}
	}
	html, err := os.ReadFile(report)
	if err != nil || !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("reconciled")) {
		t.Errorf("report.html: %d bytes, %v; want charts and the reconciled verdict", len(html), err)
	}
	// Its run dir holds the coordinator's verdict and every log.
	dirs, _ := filepath.Glob(filepath.Join(tmp, "hbctl-demo-*"))
	if len(dirs) != 1 {
		t.Fatalf("run dirs %v", dirs)
	}
	for _, f := range []string{"coordinator/verify.json", "coordinator/timeline.jsonl", "logs/server.log", "logs/coordinator.log", "logs/a01.log", "logs/a02.log"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	pids := childPIDs(res.out)
	if len(pids) != 4 {
		t.Fatalf("child PIDs %v, want server, coordinator and 2 agents", pids)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("child %d outlived the demo", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestDemoInterrupted sends SIGINT to the demo mid-run: it stops every
// child and exits 130, leaving no process behind.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	tmp := t.TempDir()
	cmd := exec.Command(hbctlBin, "demo", "--users", "1000", "--agents", "2", "--qps", "200", "--dir", tmp,
		"--out", filepath.Join(tmp, "report.html"))
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var (
		mu    sync.Mutex
		lines []string
	)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	// Mid-run: the load is on and a shake release is running.
	waitFor(t, 60*time.Second, "the demo's shake step", func() bool {
		select {
		case <-done:
			t.Fatalf("demo exited early:\n%s\n%s", text(), stderr.String())
		default:
		}
		return strings.Contains(text(), "wait_until shake_released")
	})
	pids := childPIDs(text())
	if len(pids) != 4 {
		t.Fatalf("child PIDs %v:\n%s", pids, text())
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("child %d not running before the interrupt", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("demo still running 30s after SIGINT:\n%s", text())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130\n%s\n%s", code, text(), stderr.String())
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("child %d survived the interrupt", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if !strings.Contains(text(), "demo: stopped 4 processes") {
		t.Errorf("output:\n%s", text())
	}
}
