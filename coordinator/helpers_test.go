package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

const testToken = "secret-token"

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a coordinator behind a real HTTP server on 127.0.0.1:0; its
// background loop is not started, tests call tick themselves.
type harness struct {
	t   *testing.T
	c   *Coordinator
	srv *httptest.Server
	clk *fakeClock
	dir string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 250_000_000)}
	c, err := New(Config{DataDir: dir, Token: testToken, TimePort: 7071, Now: clk.Now, PollTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.Close()
		c.Close()
	})
	return &harness{t: t, c: c, srv: srv, clk: clk, dir: dir}
}

// do sends a JSON request with token tok and decodes a 2xx answer into out.
func (h *harness) do(tok, method, path string, in, out any) int {
	h.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode/100 == 2 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	if e, ok := out.(*api.Error); ok && res.StatusCode/100 != 2 {
		json.Unmarshal(b, e)
	}
	return res.StatusCode
}

func (h *harness) register(name string, capacity int) {
	h.t.Helper()
	var resp api.RegisterResponse
	if code := h.do(testToken, "POST", api.PathRegister, api.RegisterRequest{Name: name, Capacity: capacity}, &resp); code != 200 {
		h.t.Fatalf("register %s: HTTP %d", name, code)
	}
	if resp.TimePort != 7071 {
		h.t.Fatalf("register: time port %d, want 7071", resp.TimePort)
	}
}

func (h *harness) heartbeat(name string, hb api.Heartbeat) int {
	h.t.Helper()
	return h.do(testToken, "POST", "/v1/agents/"+name+"/heartbeat", hb, nil)
}

func (h *harness) assignment(name string, after int64) (api.Assignment, int) {
	h.t.Helper()
	var as api.Assignment
	code := h.do(testToken, "GET", "/v1/agents/"+name+"/assignment?after="+itoa(after), nil, &as)
	return as, code
}

func (h *harness) status() api.Status {
	h.t.Helper()
	var st api.Status
	if code := h.do(testToken, "GET", api.PathStatus, nil, &st); code != 200 {
		h.t.Fatalf("status: HTTP %d", code)
	}
	return st
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
