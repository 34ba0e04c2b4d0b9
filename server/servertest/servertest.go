// Package servertest starts a reference server inside a test: its wire
// protocol on a free loopback port, its admin API on httptest, and a typed
// client of that API, all shut down by t.Cleanup. It is the one way hbctl's
// tests outside package server start a server to talk to.
//
// It is for tests only; it imports server and server/admin.
package servertest

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/hbctl/hbctl/server"
	"github.com/hbctl/hbctl/server/admin"
)

// Server is a reference server started for a test.
type Server struct {
	*server.Server
	// Addr is the wire protocol address (host:port).
	Addr string
	// AdminURL is the admin API's base URL, Token its bearer token.
	AdminURL, Token string
	// Admin is a client of the admin API.
	Admin *admin.Client
}

// Start runs a reference server on 127.0.0.1:0. Zero fields of cfg get
// test defaults: a fresh data dir, 4 SETs, seed 1, no logs.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	return StartAt(t, "127.0.0.1:0", cfg)
}

// StartAt is Start on a given wire address, to bring a server back on the
// address (and, with cfg.DataDir, the journal) of one the test closed.
func StartAt(t testing.TB, addr string, cfg server.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Sets == 0 {
		cfg.Sets = 4
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("start a reference server: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		t.Fatalf("start a reference server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	hs := httptest.NewServer(s.Admin())
	t.Cleanup(func() {
		hs.Close()
		s.Close() // a test may have closed it already
		if err := <-done; err != nil {
			t.Errorf("reference server: Serve: %v", err)
		}
	})
	return &Server{Server: s, Addr: ln.Addr().String(), AdminURL: hs.URL, Token: s.Token(),
		Admin: admin.New(hs.URL, s.Token(), hs.Client())}
}
