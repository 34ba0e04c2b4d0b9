package httpserve

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/testwait"
)

// Requests served normally count nothing, although net/http aborts its
// background reads with a deadline in the past; a kept-alive connection
// closed for idling counts once; a body over its limit counts once.
func TestCounters(t *testing.T) {
	var c Counters
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Body(w, r, 10, &c)
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "ok")
	})
	serve := func(c *Counters, idle time.Duration) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := New(h, nil, Timeouts{Idle: idle})
		go hs.Serve(Listener(ln, c))
		t.Cleanup(func() { hs.Close() })
		return "http://" + ln.Addr().String()
	}
	url := serve(&c, time.Hour)

	tr := &http.Transport{}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, err := cl.Post(url, "text/plain", strings.NewReader("far more than ten bytes"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || c.Stats().TooLarge != 1 {
		t.Fatalf("big body: %d, %+v", res.StatusCode, c.Stats())
	}
	for range 5 {
		res, err = cl.Post(url, "text/plain", strings.NewReader("short"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if s := c.Stats(); s.ClosedByDeadline != 0 || s.TooLarge != 1 {
		t.Fatalf("after normal requests: %+v", s)
	}
	tr.CloseIdleConnections()

	// On a server with a short idle timeout, a kept-alive connection is
	// closed and counted.
	var c2 Counters
	res, err = cl.Post(serve(&c2, 200*time.Millisecond), "text/plain", strings.NewReader("short"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	testwait.For(t, 10*time.Second, "the idle connection closed", func() bool { return c2.Stats().ClosedByDeadline == 1 })
	tr.CloseIdleConnections()
}
