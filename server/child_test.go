package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The hbctl binary for tests that run the real command: $HBCTL_BIN, or
// built once into a temp dir.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func hbctlBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("HBCTL_BIN"); p != "" {
			binPath = p
			return
		}
		binDir, binErr = os.MkdirTemp("", "hbctl-server-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hbctl")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/hbctl/hbctl/cli/hbctl").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// child is an 'hbctl server' process.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	wire  string
	admin string // http://host:port
	token string
	log   *bytes.Buffer
}

// startChild starts 'hbctl server' on free loopback ports and waits for
// its startup line.
func startChild(t testing.TB, dataDir string, args ...string) *child {
	t.Helper()
	return startChildBin(t, hbctlBin(t), dataDir, args...)
}

// startChildBin is startChild running bin (hbctl, or a script that execs
// it) instead of hbctl.
func startChildBin(t testing.TB, bin, dataDir string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--data-dir", dataDir, "--log-level", "warn"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, log: logs}
	t.Cleanup(func() { c.kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hbctl server listening ") {
				lines <- sc.Text()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("no startup line; stderr:\n%s", logs)
	}
	var tokenFile string
	for _, kv := range strings.Fields(line)[3:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "wire":
			c.wire = v
		case "admin":
			c.admin = "http://" + v
		case "token_file":
			tokenFile = v
		}
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("startup line %q: %v", line, err)
	}
	c.token = strings.TrimSpace(string(tok))
	return c
}

// kill sends SIGKILL, by PID, and reaps the process.
func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// get fetches an admin endpoint.
func (c *child) get(path string) []byte {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

func (c *child) post(path, body string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}
