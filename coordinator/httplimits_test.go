package coordinator

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/httpserve"
)

// startHTTP serves c on 127.0.0.1:0 through HTTPServer, as the command
// does, and returns its address.
func startHTTP(t *testing.T, c *Coordinator) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, ln := c.HTTPServer(ln, nil)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// rawConn is a client connection that writes what the test says.
func rawConn(t *testing.T, addr, s string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := io.WriteString(nc, s); err != nil {
		t.Fatal(err)
	}
	return nc
}

// closedByServer reads until the server closes nc and returns what came.
func closedByServer(t *testing.T, nc net.Conn) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("not closed by the server: %v (read %q)", err, b)
	}
	return string(b)
}

// A header never finished, a body never finished (with the right token),
// and an idle keep-alive are closed by the HTTP deadlines and counted; a
// wrong token is refused before the body is read; an oversized body gets
// 413 and is counted; and a real client is served throughout.
func TestHTTPDeadlinesAndLimits(t *testing.T) {
	dir := t.TempDir()
	c, err := New(Config{DataDir: dir, Token: testToken,
		HTTP: httpserve.Timeouts{ReadHeader: time.Second, Read: 2 * time.Second, Idle: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	addr := startHTTP(t, c)

	halfHeader := rawConn(t, addr, "GET /v1/status HTTP/1.1\r\nHost: x\r\n")
	slowBody := rawConn(t, addr, "POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"users\":")
	idle := rawConn(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")

	// The wrong token is answered at once, with the body still unsent.
	wrong := rawConn(t, addr, "POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	wrong.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(wrong), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %s", res.Status)
	}

	if got := closedByServer(t, halfHeader); got != "" && !strings.Contains(got, "408") {
		t.Fatalf("half header answered %q", got)
	}
	if got := closedByServer(t, slowBody); !strings.Contains(got, "400") {
		t.Fatalf("slow body answered %q; want a 400", got)
	}
	if got := closedByServer(t, idle); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("idle answered %q", got)
	}

	// A control body over its limit, on a coordinator with the default
	// timeouts: a megabyte must not meet the short ones above on a busy
	// machine.
	c2, err := New(Config{DataDir: t.TempDir(), Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	addr2 := startHTTP(t, c2)
	big := `{"users":1,"servers":["` + strings.Repeat("x", maxControlBody) + `"]}`
	req, _ := http.NewRequest("POST", "http://"+addr2+"/v1/connect", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %s", resp.Status)
	}

	if st := c.Status(); st.HTTP.ClosedByDeadline < 3 {
		t.Fatalf("http counters %+v; want >= 3 closed by deadline", st.HTTP)
	}
	if st := c2.Status(); st.HTTP.TooLarge != 1 {
		t.Fatalf("http counters %+v; want 1 too large", st.HTTP)
	}
	// Served throughout.
	req, _ = http.NewRequest("GET", "http://"+addr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: %v %v", resp, err)
	}
	resp.Body.Close()
}
