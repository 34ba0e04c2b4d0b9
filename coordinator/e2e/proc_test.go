package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/testwait"
)

// hbctlBin is the binary under test: $HBCTL_BIN, or one built by TestMain.
var hbctlBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if bin := os.Getenv("HBCTL_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			hbctlBin = bin
			return m.Run()
		}
	}
	dir, err := os.MkdirTemp("", "hbctl-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	hbctlBin = filepath.Join(dir, "hbctl")
	build := exec.Command("go", "build", "-o", hbctlBin, "github.com/hbctl/hbctl/cli/hbctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hbctl:", err)
		return 1
	}
	return m.Run()
}

// proc is a long-running hbctl child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // stderr file

	mu    sync.Mutex
	lines []string // stdout lines so far
	done  chan struct{}
}

// start runs hbctl args in the background; it is killed by PID when the
// test ends.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(hbctlBin, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.log = filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = f
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("--- %s (pid %d) stderr tail:\n%s", name, p.cmd.Process.Pid, b)
		}
	})
	return p
}

// kill sends SIGKILL to the process by its PID and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// match waits for a stdout line matching re and returns its submatches.
func (p *proc) match(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	var m []string
	waitFor(t, within, p.name+" to print "+re.String(), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			if m = re.FindStringSubmatch(l); m != nil {
				return true
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before printing %s", p.name, re)
		default:
		}
		return false
	})
	return m
}

// result of a control command.
type result struct {
	out, err string
	code     int
}

// hb runs a control command to completion (bounded by a timeout).
func hb(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(hbctlBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("hbctl %s did not finish in 60s", strings.Join(args, " "))
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

// cleanEnv is the environment without HBCTL_* variables of the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HBCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For
