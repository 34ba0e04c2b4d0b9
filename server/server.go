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

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/hbctl/hbctl/internal/durable"
	"github.com/hbctl/hbctl/internal/httpserve"
	"github.com/hbctl/hbctl/internal/netpoll"
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

	incarn   int       // starts on this data dir, this one included
	restarts []Restart // starts after a crash, oldest first; fixed after New
	cpBuf    []byte    // the counters checkpoint, reused every second
	cpGens   []uint64  // the SETs' gens read before the last whole checkpoint's rows
	cpFile   *os.File  // that file, open for an in-place rewrite of its time

	connections, logins, protoErrs, slow atomic.Int64

	// open counts the wire connections held, logged in or not (MaxConns
	// bounds it); the rest count connections closed by a read deadline,
	// evicted at the limit before logging in, or refused at once.
	open, loginTimeouts, frameTimeouts, evicted, refused atomic.Int64
	refuseLog, acceptLog                                 rate.Sometimes
	evicting                                             atomic.Int64  // evictions posted, all loops
	evicted1                                             chan struct{} // an eviction finished (capacity 1)
	evictMiss                                            atomic.Bool   // the last eviction found no connection old enough

	http httpserve.Counters // the admin API's

	// journalFails counts commits that failed; journalRefused the grants,
	// payments and notifications refused or taken back for it.
	journalFails, journalRefused atomic.Int64
	journalErr                   atomic.Value // string: the last failure
	journalLog                   rate.Sometimes

	deferMu  sync.Mutex
	deferred []deferred // deferMu: notifications held back while the journal failed

	spareMu sync.Mutex
	spare   int // a descriptor kept to accept and close a connection when out of them; -1 if none

	loops   []*loop
	nextID  atomic.Uint32 // connection ids
	closing atomic.Bool   // set by Close before the loops are woken

	quit chan struct{}
	wg   sync.WaitGroup // loops, producers

	mu     sync.Mutex // guards lns, closed
	lns    map[net.Listener]struct{}
	closed bool
}

// ErrClosed is returned by Shake and Send after Close.
var ErrClosed = errors.New("server closed")

// New opens the data dir, replays its journal (continuing the id
// sequences, the pools and the sent envelopes' shares) and starts the
// event loops that work the SETs. Serve then accepts connections.
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
		spare: -1,

		evicted1: make(chan struct{}, 1),
	}
	s.refuseLog.Interval = time.Second
	s.acceptLog.Interval = time.Second
	s.journalLog.Interval = time.Second
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
	// Every failed commit, whoever waits for it (a set's SHAKEs, a
	// release's envelopes, connection events), is counted and logged.
	j.OnFail(s.journalFailed)
	s.rel.init(s)
	if err := s.replay(rp); err != nil {
		j.Close()
		return nil, fmt.Errorf("server: replay journal: %w", err)
	}
	if err := s.incarnation(rp.Records); err != nil {
		j.Close()
		return nil, err
	}
	s.loops = make([]*loop, min(cfg.Loops, cfg.Sets))
	for i := range s.loops {
		if s.loops[i], err = newLoop(s, i); err != nil {
			for _, l := range s.loops[:i] {
				l.closeFds()
			}
			j.Close()
			return nil, err
		}
	}
	if cfg.paired {
		pairs, err := netpoll.PairUp(s.loops, s.log)
		if err != nil {
			for _, l := range s.loops {
				l.closeFds()
			}
			j.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
		for i, l := range s.loops {
			l.pair = pairs[i]
		}
	}
	for i, w := range s.sets {
		l := s.loops[i%len(s.loops)]
		w.loop = l
		l.sets = append(l.sets, w)
	}
	if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		s.spare = fd
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go l.run()
	}
	s.wg.Add(1)
	go s.watchJournal()
	s.wg.Add(1)
	go s.checkpointLoop()
	return s, nil
}

// Token is the admin API's bearer token.
func (s *Server) Token() string { return s.token }

// TokenFile is where the admin token is stored, or "" when it was given.
func (s *Server) TokenFile() string { return s.tokenFile }

// JournalPath is the ledger journal's path.
func (s *Server) JournalPath() string { return filepath.Join(s.cfg.DataDir, JournalName) }

// Close stops the producers, closes every listener and connection, stops
// the loops, closes the journal (committing what is pending) and writes a
// last counters checkpoint, marking the data dir cleanly stopped.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.closing.Store(true)
	close(s.quit)
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	for _, l := range s.loops {
		l.wake()
	}
	s.wg.Wait()
	err := s.j.Close()
	s.spareMu.Lock()
	if s.spare >= 0 {
		unix.Close(s.spare)
		s.spare = -1
	}
	s.spareMu.Unlock()
	// Commit callbacks wake the loops until the journal is closed.
	for _, l := range s.loops {
		l.closeFds()
	}
	if err == nil {
		err = s.checkpoint()
	}
	s.closeCheckpoint()
	if err == nil {
		// Only a stop that lost nothing is clean: the next start then
		// records no restart.
		if err = durable.WriteFile(filepath.Join(s.cfg.DataDir, cleanName), nil); err != nil {
			err = fmt.Errorf("server: write clean-stop marker: %w", err)
		}
	}
	return err
}

func nowMS() int64 { return time.Now().UnixMilli() }
