package deploy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHbctl starts hbctl with args in the background and returns its
// stdout lines; the process is stopped (SIGTERM) when the test ends.
func startHbctl(t *testing.T, env []string, args ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(hbctlBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return lines(out)
}

func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// expectLine waits for a line starting with prefix.
func expectLine(t *testing.T, what string, ch <-chan string, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("%s ended before printing %q", what, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("%s printed no %q in %v", what, prefix, timeout)
		}
	}
}

// field is the value of key=VALUE among a line's fields.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestJobRunsScenario runs the statefulset overlay's Job as rendered, on
// loopback: a real server, coordinator and as many agents as the
// StatefulSet has, the Job's wait-for-agents script (it waits while fewer
// agents are alive, then ends), then the run container's own argv and
// scenario, with the Service names replaced by the local addresses. The
// exit code must be the verdict hbctl run printed: 0 with "verdict:
// PASSED", 1 with "verdict: FAILED" (a threshold missed on a busy machine
// is still a verdict).
func TestJobRunsScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the smoke scenario: about 20 s")
	}
	r, err := render(filepath.Join("kubernetes", "overlays", "statefulset"))
	if err != nil {
		t.Fatal(err)
	}
	byComp, pts, err := r.containers()
	if err != nil {
		t.Fatal(err)
	}
	job := r.jobs[0]
	run := byComp["run"][0]
	agents := 0
	for _, p := range pts {
		if p.component == "agent" {
			agents = int(p.replicas)
		}
	}
	capacity, _ := byComp["agent"][0].value("capacity")

	dir := t.TempDir()
	srv := startHbctl(t, nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "srv"), "--admin-token", "a")
	line := expectLine(t, "server", srv, "hbctl server listening", 10*time.Second)
	wire, admin := field(line, "wire"), "http://"+field(line, "admin")
	coord := startHbctl(t, nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "coord"), "--token", "t")
	url := "http://" + field(expectLine(t, "coordinator", coord, "coordinator listening", 10*time.Second), "http")

	// wait-for-agents, with hbctl on PATH as in the image.
	var script string
	var env []string
	for _, c := range job.Spec.Template.Spec.InitContainers {
		if c.Name == "wait-for-agents" {
			script = c.Args[0]
			for _, e := range c.Env {
				if e.ValueFrom == nil && e.Name != "HBCTL_COORDINATOR" {
					env = append(env, e.Name+"="+e.Value)
				}
			}
		}
	}
	if script == "" {
		t.Fatal("no wait-for-agents init container in the Job")
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hbctlBin, filepath.Join(bin, "hbctl")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-c", script)
	sh.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "HBCTL_COORDINATOR=" + url, "HBCTL_TOKEN=t"}, env...)
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sh.Stderr = sh.Stdout
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := lines(out)
	expectLine(t, "wait-for-agents", waiting, fmt.Sprintf("waiting for agents: 0 of %d alive", agents), 10*time.Second)
	for i := range agents {
		name := fmt.Sprintf("hbctl-agent-%d", i)
		startHbctl(t, []string{"HBCTL_TOKEN=t"}, "agent", "--coordinator", url, "--name", name,
			"--capacity", capacity, "--data-dir", filepath.Join(dir, name))
	}
	t.Log(expectLine(t, "wait-for-agents", waiting, fmt.Sprintf("%d agents alive", agents), 30*time.Second))
	for range waiting {
	}
	if err := sh.Wait(); err != nil {
		t.Fatalf("wait-for-agents: %v", err)
	}

	// The run container: its argv, the scenario from its ConfigMap.
	scen := run.runs[0].pos[0]
	var data string
	for _, cm := range r.configMaps {
		data = cm.Data[filepath.Base(scen)]
	}
	f := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range run.runs[0].rest {
		switch {
		case a == scen:
			a = f
		case strings.HasPrefix(a, "--coordinator="):
			a = "--coordinator=" + url
		case strings.HasPrefix(a, "--server="):
			a = "--server=" + wire
		case strings.HasPrefix(a, "--admin="):
			a = "--admin=" + admin
		}
		args = append(args, a)
	}
	runJob := func() (int, string) {
		cmd := exec.CommandContext(ctx, hbctlBin, append([]string{"run"}, args...)...)
		cmd.Env = append(os.Environ(), "HBCTL_TOKEN=t", "HBCTL_ADMIN_TOKEN=a")
		b, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		t.Logf("hbctl run %s: exit %d (%v)\n%s", strings.Join(args, " "), code, err, b)
		return code, string(b)
	}
	switch code, out := runJob(); {
	case code == 0 && strings.Contains(out, "verdict: PASSED"):
	case code == 1 && strings.Contains(out, "verdict: FAILED"):
		t.Logf("the scenario's thresholds failed on this machine; the exit code carried it")
	default:
		t.Fatalf("hbctl run exited %d: want 0 with verdict PASSED or 1 with verdict FAILED", code)
	}

	// The same Job on a scenario no run can pass: exit 1, the verdict.
	impossible := "name: impossible\nusers: 3000\nsteps:\n  - wait: 1s\nthresholds:\n  - shake.p50 < 0ms\n"
	if err := os.WriteFile(f, []byte(impossible), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runJob(); code != 1 || !strings.Contains(out, "verdict: FAILED") {
		t.Fatalf("a failing scenario: exit %d, want 1 with verdict FAILED", code)
	}
}
