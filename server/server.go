package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hbctl/hbctl/server/ledger"
)

// JournalName is the journal's file name inside the data dir.
const JournalName = "ledger.jsonl"

// Server is the reference red-envelope server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	seed    int64
	j       *ledger.Journal
	sets    []*set
	sends   sendTable
	limiter *rate.Limiter // nil when MaxQPS is 0
	start   time.Time

	token, tokenFile string

	rel release // the shake and send producers

	connections, logins, protoErrs, slow atomic.Int64

	quit chan struct{}
	wg   sync.WaitGroup // readers, workers, producers

	mu     sync.Mutex // guards lns, conns, closed
	lns    map[net.Listener]struct{}
	conns  map[*conn]struct{} // every accepted connection, for Close
	closed bool
}

// ErrClosed is returned by Shake and Send after Close.
var ErrClosed = errors.New("server closed")

// New opens the data dir, replays its journal (continuing the id
// sequences, the pools and the sent envelopes' shares) and starts the SET
// workers. Serve then accepts connections.
func New(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		seed:  cfg.Seed,
		start: time.Now(),
		quit:  make(chan struct{}),
		lns:   make(map[net.Listener]struct{}),
		conns: make(map[*conn]struct{}),
	}
	if s.seed == 0 {
		s.seed = randomSeed()
	}
	s.sends.m = make(map[uint32]*sent)
	if cfg.MaxQPS > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.MaxQPS), max(1, cfg.MaxQPS/10))
	}
	tok, tokFile, err := adminToken(cfg.AdminToken, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.token, s.tokenFile = tok, tokFile
	s.sets = make([]*set, cfg.Sets)
	for i := range s.sets {
		s.sets[i] = newSet(s, i)
	}
	j, rp, err := ledger.Open(filepath.Join(cfg.DataDir, JournalName))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.j = j
	s.rel.init(s)
	if err := s.replay(rp); err != nil {
		j.Close()
		return nil, fmt.Errorf("server: replay journal: %w", err)
	}
	for _, w := range s.sets {
		s.wg.Add(1)
		go w.run()
	}
	return s, nil
}

// Serve accepts wire-protocol connections on ln until Close. It may be
// called for several listeners. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.quit:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of descriptors or similar: wait and retry, as
				// net/http does, instead of giving up on every client.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.quit:
					return nil
				}
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.readLoop()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// forget drops an ended connection from the registry of accepted ones.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Token is the admin API's bearer token.
func (s *Server) Token() string { return s.token }

// TokenFile is where the admin token is stored, or "" when it was given.
func (s *Server) TokenFile() string { return s.tokenFile }

// JournalPath is the ledger journal's path.
func (s *Server) JournalPath() string { return filepath.Join(s.cfg.DataDir, JournalName) }

// Close stops the producers, closes every listener and connection, stops
// the workers and closes the journal (committing what is pending).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.quit)
	for ln := range s.lns {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return s.j.Close()
}

func nowMS() int64 { return time.Now().UnixMilli() }
