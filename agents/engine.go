package agents

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/netpoll"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/telemetry"
)

// File names inside Config.DataDir.
const (
	LedgerFile   = "ledger.jsonl"
	CountersFile = "counters.json"
)

// ErrClosed is returned by calls on a closed Engine.
var ErrClosed = errors.New("agents: engine closed")

// Engine is one agent: the users it holds, their connections, the plan it
// fires, its client ledger and its windows. Its methods are safe for
// concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	servers []endpoint
	bind    unix.Sockaddr
	flim    telemetry.FileLimit
	lim     *rate.Limiter
	journal *ledger.Journal
	loops   []*loop
	asm     *assembler
	// gridOff places this agent's wake grid within a step, from its name:
	// agents on one clock would otherwise all fire at the same instants,
	// and their servers take every step's SHAKEs in one burst.
	gridOff int64

	opMu sync.Mutex // serializes Connect, Disconnect, Users and Close

	mu         sync.Mutex // guards the fields below
	retired    map[uint32]ledger.ClientUser
	retiredGen uint64 // bumped whenever retired changes
	journalErr error
	closed     bool

	stopCP chan struct{}
	cpDone chan struct{}

	// The checkpoint's buffers, reused every second, and the file it last
	// wrote; opMu guards them.
	cpScratch usersScratch
	cpBuf     []byte
	cp        cpFile
}

// Status is a snapshot of an engine.
type Status struct {
	Name        string `json:"name"`
	Target      int    `json:"target"`      // users held
	Established int    `json:"established"` // logged in now
	Connecting  int    `json:"connecting"`  // dialing or logging in now
	PlanID      uint64 `json:"plan_id"`
	Rate        int64  `json:"rate"`   // the running plan's global rate now
	Totals      Counts `json:"totals"` // since New, over every window
	// WindowsDropped counts windows lost because TakeWindows was not
	// called often enough.
	WindowsDropped uint64 `json:"windows_dropped"`
	MaxConns       int    `json:"max_conns"` // what the open-file limit allows
	JournalErr     string `json:"journal_err,omitempty"`
}

// New opens the data dir (replaying the journal and the counters of an
// earlier run there) and starts the event loops. It dials nothing until
// Connect.
func New(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With("agent", cfg.Name), retired: make(map[uint32]ledger.ClientUser),
		stopCP: make(chan struct{}), cpDone: make(chan struct{})}
	for _, s := range cfg.Servers {
		ep, err := resolve(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		e.servers = append(e.servers, ep)
	}
	if cfg.Bind != "" {
		ip := net.ParseIP(cfg.Bind)
		if ip == nil {
			return nil, fmt.Errorf("%w: bind address %q is not an IP", ErrConfig, cfg.Bind)
		}
		_, e.bind = sockaddr(ip, 0)
	}
	flim, err := telemetry.RaiseFileLimit()
	if err != nil {
		e.log.Warn("could not raise the open-file limit", "err", err)
	}
	e.flim = flim
	e.lim = rate.NewLimiter(rate.Limit(cfg.ConnectRate), max(1, cfg.ConnectRate/100))

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent data dir: %w", err)
	}
	cp, err := readCounters(filepath.Join(cfg.DataDir, CountersFile))
	if err != nil {
		return nil, err
	}
	j, rp, err := ledger.Open(filepath.Join(cfg.DataDir, LedgerFile))
	if err != nil {
		return nil, err
	}
	e.journal = j
	e.retired = resume(cp, rp.Records)
	if len(e.retired) > 0 {
		e.log.Info("resumed counters", "users", len(e.retired), "checkpoint_ms", cp.T, "journal_records", len(rp.Records))
	}

	if g := int64(cfg.WakeGrid); g > 0 {
		h := fnv.New64a()
		h.Write([]byte(cfg.Name))
		e.gridOff = int64(h.Sum64() % uint64(g))
	}
	base := cfg.Now() / int64(time.Second)
	e.asm = newAssembler(cfg.Name, cfg.Loops, cfg.WindowBacklog)
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(e, i, base)
		if err != nil {
			e.closeLoops()
			j.Close()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	if cfg.paired {
		pairs, err := netpoll.PairUp(e.loops, e.log)
		if err != nil {
			e.closeLoops()
			j.Close()
			return nil, err
		}
		for i, l := range e.loops {
			l.pair = pairs[i]
		}
	}
	for _, l := range e.loops {
		go l.run()
	}
	go e.checkpointLoop()
	return e, nil
}

// Connect makes the engine hold exactly these uids: new ones are dialed at
// the connect rate, ones no longer listed are disconnected. It refuses a
// set larger than the open-file limit allows.
func (e *Engine) Connect(users []schedule.Range) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if e.isClosed() {
		return ErrClosed
	}
	rs := normalize(users)
	if err := e.flim.CheckConns(count(rs)); err != nil {
		return fmt.Errorf("agent %s: %w", e.cfg.Name, err)
	}
	parts := split(rs, len(e.loops))
	for k, l := range e.loops {
		owned := parts[k]
		l.call(func() { l.setUsers(owned, l.now()) })
	}
	e.log.Info("holding users", "users", count(rs), "servers", len(e.servers))
	return nil
}

// SetPlan fires p for the held users. The first plan starts at its start;
// a new version of the running plan (same ID, more segments) changes the
// rate at each segment's T; a plan with a higher ID replaces the running
// one at its first segment's T; an older ID is ignored.
func (e *Engine) SetPlan(p schedule.Plan) {
	if len(p.Segments) == 0 {
		return
	}
	for _, l := range e.loops {
		l.call(func() {
			if !l.pc.set(p, l.owned, l.now()) && l.id == 0 {
				e.log.Warn("ignored an older plan", "plan", p.ID, "running", l.pc.id())
			}
		})
	}
}

// Disconnect closes every user connection and stops firing. Counters are
// kept; a later Connect dials again.
func (e *Engine) Disconnect() {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	for _, l := range e.loops {
		l.call(func() { l.disconnect(l.now()) })
	}
}

// Status is a snapshot of connections, totals and the plan.
func (e *Engine) Status() Status {
	s := Status{Name: e.cfg.Name, MaxConns: e.flim.MaxConns()}
	for _, l := range e.loops {
		var ls loopStatus
		if !l.call(func() { ls = l.status() }) {
			continue
		}
		s.Target += ls.target
		s.Established += ls.up
		s.Connecting += ls.connecting
		s.Totals.Add(&ls.tot)
		s.PlanID = max(s.PlanID, ls.planID)
		s.Rate = max(s.Rate, ls.rate)
	}
	_, s.WindowsDropped = e.asm.peek()
	e.mu.Lock()
	if e.journalErr != nil {
		s.JournalErr = e.journalErr.Error()
	}
	e.mu.Unlock()
	return s
}

// TakeWindows hands out the completed seconds since the last call, oldest
// first. Beyond Config.WindowBacklog the oldest are dropped (counted in
// Status.WindowsDropped).
func (e *Engine) TakeWindows() []Window {
	w, _ := e.asm.take()
	return w
}

// Users is every user's counters, held now or earlier, sorted by uid.
func (e *Engine) Users() []ledger.ClientUser {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	return e.users()
}

// users: opMu must be held, so no user moves between a loop and retired.
func (e *Engine) users() []ledger.ClientUser {
	var (
		scratch usersScratch
		out     []ledger.ClientUser
	)
	e.eachUser(&scratch, func(u *ledger.ClientUser) { out = append(out, *u) })
	return out
}

// usersScratch is what appendUsers gathers into before merging, kept by
// the checkpoint from one second to the next.
type usersScratch struct {
	all    []ledger.ClientUser
	bounds []int // run i is all[bounds[i]:bounds[i+1]]
	pos    []int
	gen    uint64 // the counters generation (countersGen) of what all holds
}

// eachUser calls f with every user's counters in uid order. Each loop's
// users are already sorted, so they are merged, not sorted. opMu must be
// held.
func (e *Engine) eachUser(s *usersScratch, f func(*ledger.ClientUser)) {
	s.all, s.bounds, s.gen = s.all[:0], append(s.bounds[:0], 0), 0
	for _, l := range e.loops {
		// The generation is read with the users, in one call: it is the
		// generation of exactly these counters.
		l.call(func() { s.all, s.gen = l.users(s.all), s.gen+l.cgen })
		s.bounds = append(s.bounds, len(s.all))
	}
	e.mu.Lock()
	for _, u := range e.retired {
		s.all = append(s.all, u)
	}
	s.gen += e.retiredGen
	e.mu.Unlock()
	n := s.bounds[len(s.bounds)-1]
	slices.SortFunc(s.all[n:], func(a, b ledger.ClientUser) int { return cmp.Compare(a.UID, b.UID) })
	s.bounds = append(s.bounds, len(s.all))
	s.pos = append(s.pos[:0], s.bounds[:len(s.bounds)-1]...)
	for {
		best := -1
		for r, p := range s.pos {
			if p < s.bounds[r+1] && (best < 0 || s.all[p].UID < s.all[s.pos[best]].UID) {
				best = r
			}
		}
		if best < 0 {
			break
		}
		f(&s.all[s.pos[best]])
		s.pos[best]++
	}
	clear(s.all) // the Srv strings
}

// Ledger opens the journal file as written, for collection.
func (e *Engine) Ledger() (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(e.cfg.DataDir, LedgerFile))
	if err != nil {
		return nil, fmt.Errorf("agent ledger: %w", err)
	}
	return f, nil
}

// Close disconnects every user, stops the loops, makes the journal durable
// and writes a last counters checkpoint.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	e.mu.Unlock()
	// The checkpoint loop takes opMu for each checkpoint: stop it before
	// taking opMu, or a tick that fires as Close begins waits for opMu
	// while Close waits for the loop.
	close(e.stopCP)
	<-e.cpDone
	e.opMu.Lock()
	defer e.opMu.Unlock()
	for _, l := range e.loops {
		l.call(func() { l.disconnect(l.now()); l.quit = true })
	}
	e.stopLoops()
	err := e.journal.Close()
	// Every durability callback has run: count what they acknowledged.
	for _, l := range e.loops {
		l.runCommands()
	}
	if cerr := e.checkpoint(); err == nil {
		err = cerr
	}
	e.cp.close()
	return err
}

// closeLoops releases loops that were never started.
func (e *Engine) closeLoops() {
	for _, l := range e.loops {
		l.closeFds()
	}
}

// stopLoops waits for every loop to exit.
func (e *Engine) stopLoops() {
	for _, l := range e.loops {
		l.call(func() { l.quit = true })
		<-l.done
	}
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// retire keeps the counters of a user no longer held.
func (e *Engine) retire(u ledger.ClientUser) {
	e.mu.Lock()
	e.retired[u.UID] = u
	e.retiredGen++
	e.mu.Unlock()
}

// takeCounters is where a newly held user's counters start: from an
// earlier hold or an earlier run, or zero.
func (e *Engine) takeCounters(uid uint32, srv string) ledger.ClientUser {
	e.mu.Lock()
	u, ok := e.retired[uid]
	delete(e.retired, uid)
	e.retiredGen++
	e.mu.Unlock()
	if !ok {
		u.UID = uid
	}
	u.Srv = srv
	return u
}

// ackRetired counts a durable record of a user dropped since.
func (e *Engine) ackRetired(a ack) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.retired[a.uid]
	u.UID = a.uid
	if a.open {
		u.OpenAnswered++
	} else {
		u.Got++
		if u.Pending > 0 {
			u.Pending--
		}
	}
	e.retired[a.uid] = u
	e.retiredGen++
}

// journalDone is the durability callback of records no counter waits for.
func (e *Engine) journalDone(err error) {
	if err != nil {
		e.journalFailed(err)
	}
}

func (e *Engine) journalFailed(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.journalErr == nil {
		e.journalErr = err
		e.log.Error("client ledger journal failed", "err", err)
	}
}
