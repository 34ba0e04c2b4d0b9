package server

import (
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hbctl/hbctl/internal/testwait"
	"github.com/hbctl/hbctl/server/wire"
)

// startServer runs a server on 127.0.0.1:0 for the test's lifetime.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Sets == 0 {
		cfg.Sets = 8
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// startAdmin serves s.Admin() for the test.
func startAdmin(t testing.TB, s *Server) string {
	t.Helper()
	hs := httptest.NewServer(s.Admin())
	t.Cleanup(hs.Close)
	return hs.URL
}

// client is a raw protocol connection with send and expect helpers.
type client struct {
	t  testing.TB
	nc net.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc}
}

func (c *client) send(fs ...wire.Frame) {
	c.t.Helper()
	var b []byte
	for i := range fs {
		b = wire.Append(b, &fs[i])
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read reads one whole frame.
func (c *client) read() (wire.Frame, error) {
	var f wire.Frame
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [wire.MaxFrameLen]byte
	if _, err := io.ReadFull(c.nc, hdr[:4]); err != nil {
		return f, err
	}
	n, err := wire.Header(hdr[:4])
	if err != nil {
		return f, err
	}
	if _, err := io.ReadFull(c.nc, hdr[4:n]); err != nil {
		return f, err
	}
	_, err = wire.Decode(hdr[:n], &f)
	return f, err
}

// expect reads the next frame and checks its command.
func (c *client) expect(cmd wire.Cmd) wire.Frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("expect %s: %v", cmd, err)
	}
	if f.Cmd != cmd {
		c.t.Fatalf("expect %s, got %s %v", cmd, f.Cmd, f.Fields)
	}
	return f
}

// expectClosed checks that the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("connection not closed by the server")
		}
		return
	}
}

// login logs uid in and checks the answer.
func (c *client) login(uid uint32) {
	c.t.Helper()
	c.send(wire.Login(now(), uid))
	f := c.expect(wire.CmdLoginResp)
	if f.UID() != uid || f.Result() != wire.LoginOK {
		c.t.Fatalf("login %d: %v", uid, f.Fields)
	}
}

func (c *client) shake() wire.Frame {
	c.t.Helper()
	c.send(wire.Shake(now(), 0))
	return c.expect(wire.CmdShakeResp)
}

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For
