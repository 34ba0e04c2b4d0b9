package deploy

import (
	"bufio"
	"context"
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

// TestJobWaitsForAgents runs the Job's wait-for-agents script, as rendered,
// against a real coordinator on loopback: it waits while fewer agents than
// WANT_AGENTS are alive and ends, exit 0, once a real agent has registered.
func TestJobWaitsForAgents(t *testing.T) {
	r, err := render(filepath.Join("kubernetes", "overlays", "statefulset"))
	if err != nil {
		t.Fatal(err)
	}
	var script string
	var env []string
	for _, c := range r.jobs[0].Spec.Template.Spec.InitContainers {
		if c.Name != "wait-for-agents" {
			continue
		}
		script = c.Args[0]
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	if script == "" {
		t.Fatal("no wait-for-agents init container in the Job")
	}

	dir := t.TempDir()
	coord := startHbctl(t, nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "coord"), "--token", "t")
	line := expectLine(t, "coordinator", coord, "coordinator listening", 10*time.Second)
	var addr string
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "http="); ok {
			addr = v
		}
	}
	url := "http://" + addr

	// The script finds hbctl on PATH, as in the image.
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hbctlBin, filepath.Join(bin, "hbctl")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-c", script)
	sh.Env = append(append([]string{"PATH=" + bin + ":/usr/bin:/bin"}, env...),
		"WANT_AGENTS=1", "HBCTL_COORDINATOR="+url, "HBCTL_TOKEN=t")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sh.Stderr = sh.Stdout
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := lines(out)
	expectLine(t, "wait-for-agents", waiting, "waiting for agents: 0 of 1 alive", 10*time.Second)

	startHbctl(t, []string{"HBCTL_TOKEN=t"}, "agent", "--coordinator", url, "--name", "a1",
		"--capacity", "10", "--data-dir", filepath.Join(dir, "a1"))
	got := expectLine(t, "wait-for-agents", waiting, "1 agents alive", 20*time.Second)
	for range waiting {
	}
	if err := sh.Wait(); err != nil {
		t.Fatalf("wait-for-agents: %v", err)
	}
	t.Log(got)
}
