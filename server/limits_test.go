package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/httpserve"
	"github.com/hbctl/hbctl/server/wire"
)

// A connection that never logs in, one that leaves its LOGIN half-sent
// and a logged-in one that leaves a SHAKE half-sent are closed by their
// read deadlines and counted; an idle logged-in client is kept.
func TestReadDeadlinesCloseAndCount(t *testing.T) {
	// Long enough that a busy machine does not miss them for real clients,
	// short enough for a test.
	s, addr := startServer(t, Config{LoginTimeout: 3 * time.Second, FrameTimeout: 3 * time.Second})
	idle := dial(t, addr)
	idle.login(1)

	silent := dial(t, addr) // never sends anything
	halfLogin := dial(t, addr)
	login := wire.Append(nil, ptr(wire.Login(now(), 2)))
	halfLogin.sendRaw(login[:7])
	halfShake := dial(t, addr)
	halfShake.login(3)
	shake := wire.Append(nil, ptr(wire.Shake(now(), 3)))
	halfShake.sendRaw(shake[:5])

	silent.closedWithin(30 * time.Second)
	halfLogin.closedWithin(30 * time.Second)
	halfShake.closedWithin(30 * time.Second)
	waitFor(t, 5*time.Second, "the counters", func() bool {
		l := s.Stats().Limits
		return l.LoginTimeouts == 2 && l.FrameTimeouts == 1 && l.Open == 1
	})
	// The idle client outlived every deadline and is still served; a
	// frame finished in two writes is not cut off either.
	idle.sendRaw(shake[:5])
	idle.sendRaw(shake[5:])
	idle.expect(wire.CmdShakeResp)
	if st := s.Stats(); st.Connections != 1 || st.Limits.Open != 1 {
		t.Fatalf("connections %d, open %d; want 1 and 1", st.Connections, st.Limits.Open)
	}
}

// At the connection limit a connection that has not logged in makes room
// for a new one; once every connection held has logged in, a new one is
// closed at once and counted.
func TestConnectionLimit(t *testing.T) {
	s, addr := startServer(t, Config{MaxConns: 3})
	var silent []*client
	for range 3 {
		silent = append(silent, dial(t, addr))
	}
	waitFor(t, 5*time.Second, "3 connections held", func() bool { return s.Stats().Limits.Open == 3 })
	// Three connections that never log in do not keep real clients out.
	var real []*client
	for uid := range uint32(3) {
		c := dial(t, addr)
		c.login(uid)
		real = append(real, c)
	}
	for _, c := range silent {
		c.expectClosed()
	}
	waitFor(t, 5*time.Second, "3 evicted, none refused, 3 open", func() bool {
		l := s.Stats().Limits
		return l.EvictedBeforeLogin == 3 && l.Refused == 0 && l.Open == 3
	})
	// Full of logged-in clients: the next one is refused at once.
	extra := dial(t, addr)
	extra.send(wire.Login(now(), 9))
	extra.expectClosed()
	waitFor(t, 5*time.Second, "1 refused, 3 open", func() bool {
		l := s.Stats().Limits
		return l.Refused == 1 && l.Open == 3
	})
	for _, c := range real {
		c.shake()
	}
	// Room again once a client leaves.
	real[0].nc.Close()
	waitFor(t, 5*time.Second, "room", func() bool { return s.Stats().Limits.Open == 2 })
	dial(t, addr).login(7)
}

// A server whose open-file limit is small, flooded with more connections
// than it allows that never log in or leave half a frame, still logs a
// real client in, closes the flood by its deadlines, counts everything,
// and logs the refusals at most once a second, never a descriptor error
// per connection.
func TestFloodAtFileLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the hbctl binary")
	}
	bin := hbctlBin(t)
	dir := t.TempDir()
	// The child cannot raise its soft limit past this hard limit.
	wrapper := dir + "/limited.sh"
	script := fmt.Sprintf("#!/bin/sh\nulimit -Sn 128 && ulimit -Hn 128 && exec %q \"$@\"\n", bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	c := startChildBin(t, wrapper, dir+"/data", "--login-timeout", "10s", "--frame-timeout", "10s", "--log-level", "info")
	var st Stats
	stats := func() Stats {
		if err := json.Unmarshal(c.get("/v1/stats"), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	limit := stats().Limits.MaxConnections
	if limit <= 0 || limit >= 128 {
		t.Fatalf("max_connections %d under a limit of 128 files", limit)
	}
	// The flood: three times the limit, half silent, half with half a
	// LOGIN, opened as fast as the test can.
	start := time.Now()
	var flood []*client
	login := wire.Append(nil, ptr(wire.Login(now(), 1)))
	for i := range 3 * limit {
		f := dial(t, c.wire)
		if i%2 == 1 {
			f.nc.Write(login[:9])
		}
		flood = append(flood, f)
	}
	// A real client logs in while the flood holds every place.
	var real []*client
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", c.log)
		}
	})
	for uid := range uint32(5) {
		r := dial(t, c.wire)
		r.login(uid)
		r.shake()
		real = append(real, r)
	}
	for _, f := range flood {
		f.closedWithin(60 * time.Second)
	}
	t.Logf("flood of %d closed %s after it started (limit %d)", len(flood), time.Since(start).Round(time.Millisecond), limit)
	waitFor(t, 10*time.Second, "every flood connection counted", func() bool {
		l := stats().Limits
		return l.Refused+l.EvictedBeforeLogin+l.LoginTimeouts >= int64(len(flood)) && l.Open == int64(len(real))
	})
	l := st.Limits
	t.Logf("limits %+v", l)
	if l.EvictedBeforeLogin == 0 || l.LoginTimeouts == 0 {
		t.Fatalf("limits %+v: want evictions and login timeouts", l)
	}
	for _, r := range real {
		r.shake() // still served
	}
	// Full of logged-in clients, the server refuses every new connection
	// at once: closed before its LOGIN is answered, counted.
	for uid := uint32(len(real)); int(uid) < limit; uid++ {
		dial(t, c.wire).login(uid)
	}
	// The flood itself may have met a full server (refused, not evicted):
	// the extra connections are counted on top of that.
	refused := stats().Limits.Refused
	const extra = 100
	for range extra {
		e := dial(t, c.wire)
		e.send(wire.Login(now(), 1000))
		e.expectClosed()
		e.nc.Close()
	}
	waitFor(t, 10*time.Second, "every extra connection refused", func() bool {
		l := stats().Limits
		return l.Refused == refused+extra && l.Open == int64(limit)
	})
	c.kill()
	logs := c.log.String()
	if strings.Contains(logs, "cannot take over") || strings.Contains(logs, "accept failed") {
		t.Fatalf("an error per connection in the log:\n%s", logs)
	}
	// At most one refusal line a second (plus one for a partial second).
	lines := strings.Count(logs, "refusing new connections")
	if max := int(time.Since(start)/time.Second) + 1; lines > max {
		t.Fatalf("%d refusal lines in %s:\n%s", lines, time.Since(start), logs)
	}
}

// closedWithin checks that the server closes the connection within d,
// whatever it sends first.
func (c *client) closedWithin(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed by the server within %s", d)
	}
}

// The admin API's 202 echoes the values that will run, defaults filled
// in, not the raw request.
func TestAdminEchoesEffectiveRelease(t *testing.T) {
	s, _ := startServer(t, Config{})
	url := startAdmin(t, s)
	code, b := call(t, "POST", url+"/v1/send", s.Token(), `{"rate":10,"total":5}`)
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %s", code, b)
	}
	var got struct{ Started SendRequest }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if r := got.Started; r.Recipients != DefaultRecipients || r.MinAmount != DefaultMinAmount || r.MaxAmount < r.MinAmount || r.Rate != 10 || r.Total != 5 {
		t.Fatalf("started %+v; want the defaults filled in", r)
	}
}

// The admin API closes a body that never completes and an idle
// keep-alive by its deadlines, counts them in /v1/stats, and answers a
// wrong token before reading the body.
func TestAdminHTTPDeadlines(t *testing.T) {
	s, _ := startServer(t, Config{AdminTimeouts: httpserve.Timeouts{ReadHeader: time.Second, Read: 2 * time.Second, Idle: 2 * time.Second}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, ln := s.AdminServer(ln, nil)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()
	open := func(req string) net.Conn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		io.WriteString(nc, req)
		return nc
	}
	slow := open("POST /v1/shake HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.Token() + "\r\nContent-Length: 50\r\n\r\n{\"rate\":")
	idle := open("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	wrong := open("POST /v1/shake HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 50\r\n\r\n{")
	wrong.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(wrong), nil)
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v %v", res, err)
	}
	for _, nc := range []net.Conn{slow, idle} {
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(nc); err != nil {
			t.Fatalf("not closed by the server: %v", err)
		}
	}
	if st := s.Stats(); st.AdminHTTP.ClosedByDeadline < 2 || st.Releasing.Shake {
		t.Fatalf("admin http %+v, releasing %+v", st.AdminHTTP, st.Releasing)
	}
}
