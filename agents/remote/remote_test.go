package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/coordinator"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/client"
	"github.com/hbctl/hbctl/internal/testwait"
	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/servertest"
)

const token = "t0ken"

// coord is a coordinator served on a real listener.
type coord struct {
	c   *coordinator.Coordinator
	srv *http.Server
	url string
}

func startCoord(t *testing.T, addr, dir string) *coord {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := coordinator.New(coordinator.Config{DataDir: dir, Token: token, PollTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	srv := &http.Server{Handler: c.Handler()}
	go srv.Serve(ln)
	co := &coord{c: c, srv: srv, url: "http://" + ln.Addr().String()}
	t.Cleanup(co.stop)
	return co
}

func (co *coord) stop() {
	co.c.Close()
	co.srv.Close()
}

// startServer runs a reference server (server/servertest) and returns its
// wire address.
func startServer(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, server.Config{}).Addr
}

// waitFor polls a condition (internal/testwait).
var waitFor = testwait.For

func TestWrongTokenStops(t *testing.T) {
	co := startCoord(t, "127.0.0.1:0", t.TempDir())
	a, err := New(Config{Coordinator: co.url, Token: "wrong", Name: "h01", Capacity: 10,
		Engine: agents.Config{DataDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Run(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run with a wrong token: %v, want ErrUnauthorized", err)
	}
	if st := co.c.Status(); len(st.Agents) != 0 {
		t.Fatalf("a refused agent was registered: %+v", st.Agents)
	}
}

func TestLoadOutlivesCoordinator(t *testing.T) {
	wire := startServer(t)
	dir := t.TempDir()
	co := startCoord(t, "127.0.0.1:0", dir)
	a, err := New(Config{Coordinator: co.url, Token: token, Name: "h01", Capacity: 100,
		Engine: agents.Config{DataDir: t.TempDir()}, BackoffMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	cl := client.New(co.url, token)
	waitFor(t, 5*time.Second, "the agent to register", func() bool { return len(co.c.Status().Agents) == 1 })
	if _, err := cl.Connect(ctx, api.ConnectRequest{Servers: []string{wire}, Users: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SetQPS(ctx, api.QPSRequest{Q: 200, DelayMillis: 500}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "windows to reach the coordinator", func() bool {
		st := co.c.Status()
		return st.Connections.Established == 100 && st.Run.Sent > 0
	})

	// The coordinator goes away: the load keeps running.
	addr := co.url[len("http://"):]
	co.stop()
	sent := a.Engine().Status().Totals.Sent
	waitFor(t, 5*time.Second, "fires while the coordinator is away", func() bool {
		return a.Engine().Status().Totals.Sent >= sent+300
	})

	// A coordinator comes back on the same address: the agent registers
	// again and delivers the windows it kept.
	co2 := startCoord(t, addr, dir)
	waitFor(t, 10*time.Second, "the agent to register with the new coordinator", func() bool {
		st := co2.c.Status()
		return len(st.Agents) == 1 && st.Agents[0].Alive && st.Run.Sent >= 300
	})
	if st := a.Engine().Status(); st.Established != 100 {
		t.Fatalf("connections dropped across the coordinator restart: %+v", st)
	}
}
