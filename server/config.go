package server

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/internal/httpserve"
)

// Defaults for Config fields left zero.
const (
	DefaultSets         = 64
	DefaultWriteTimeout = 5 * time.Second
	// DefaultWakeGrid is the loops' wake grid of 'hbctl server'; a zero
	// Config.WakeGrid wakes for every arrival.
	DefaultWakeGrid time.Duration = 0
	// DefaultMaxPending is how many response bytes may wait for a client
	// that does not read before it is disconnected as a slow consumer.
	DefaultMaxPending = 64 << 10
	// DefaultLoginTimeout is how long a new connection may take to log in.
	DefaultLoginTimeout = 30 * time.Second
	// DefaultFrameTimeout is how long a client may take to finish a frame
	// it has started.
	DefaultFrameTimeout = 30 * time.Second
)

// Envelope id ranges (docs/protocol.md): shake envelopes count up from
// ShakeIDBase, sent envelopes from SendIDBase.
const (
	ShakeIDBase uint32 = 0x100000
	SendIDBase  uint32 = 0x200000
)

// Config configures a Server.
type Config struct {
	Sets         int           // SET count; DefaultSets when 0
	MaxQPS       int           // SHAKEs per second answered before 17 (overloaded); 0 = off
	DataDir      string        // required; journal at DataDir/ledger.jsonl
	Seed         int64         // amount and share RNG seed; 0 = random
	Users        UIDRange      // valid uids; unset = all
	WriteTimeout time.Duration // how long a client may leave a write blocked; DefaultWriteTimeout when 0
	AdminToken   string        // "" = generate and write DataDir/admin-token (0600), or reuse it
	Logger       *slog.Logger  // slog.Default() when nil

	// Loops is the number of event loops that read, answer and write the
	// connections (each works Sets/Loops SETs), at most Sets, each on a
	// thread of its own. When 0, one per CPU (DefaultLoops), run two to a
	// thread while lightly loaded (netpoll.Pair).
	Loops  int
	paired bool
	// WakeGrid coalesces a busy loop's wake-ups onto a grid of this step:
	// once requests arrive more often than every other step, the loop
	// stops waking for each arrival and reads what arrived at each step
	// instead, which adds at most one step to a response's time. 0 wakes
	// for every arrival.
	WakeGrid time.Duration
	// MaxPending bounds the unsent response bytes of one connection;
	// DefaultMaxPending when 0.
	MaxPending int

	// LoginTimeout closes a connection that has not sent a LOGIN this long
	// after it was accepted; DefaultLoginTimeout when 0.
	LoginTimeout time.Duration
	// FrameTimeout closes a logged-in connection that leaves a frame
	// unfinished this long; DefaultFrameTimeout when 0.
	FrameTimeout time.Duration
	// MaxConns is how many wire connections (logged in or not) the server
	// holds at once; beyond it new connections are closed as soon as they
	// are accepted, or, while connections that never logged in are held,
	// the oldest of those is closed to make room. 0: what the open-file
	// limit leaves after a reserve for everything else (MaxConnsFor).
	MaxConns int
	// AdminTimeouts are the admin API's HTTP timeouts; httpserve's
	// defaults for zero fields.
	AdminTimeouts httpserve.Timeouts
}

func (c *Config) fill() error {
	if c.DataDir == "" {
		return errors.New("server: Config.DataDir is required")
	}
	if c.Sets == 0 {
		c.Sets = DefaultSets
	}
	if c.Sets < 1 || c.Sets > 4096 {
		return fmt.Errorf("server: sets %d out of range 1..4096", c.Sets)
	}
	if c.MaxQPS < 0 {
		return fmt.Errorf("server: max-qps %d is negative", c.MaxQPS)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WakeGrid < 0 || c.WakeGrid > time.Second {
		return fmt.Errorf("server: wake grid %v out of range [0, 1s]", c.WakeGrid)
	}
	if c.Loops <= 0 {
		c.Loops, c.paired = DefaultLoops(), true
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.LoginTimeout < 0 || c.FrameTimeout < 0 {
		return fmt.Errorf("server: login and frame timeouts must not be negative (%s, %s)", c.LoginTimeout, c.FrameTimeout)
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("server: max connections %d is negative", c.MaxConns)
	}
	if c.MaxConns == 0 {
		var r unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return fmt.Errorf("server: open-file limit: %w", err)
		}
		c.MaxConns = MaxConnsFor(r.Cur)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// MaxConnsFor is how many connections an open-file limit of soft leaves
// room for: a quarter of it, at least 64 and at most 1,000 descriptors,
// stays reserved for listeners, the journal, the admin API and telemetry.
func MaxConnsFor(soft uint64) int {
	reserve := min(max(soft/4, 64), 1000)
	if soft <= reserve {
		return 1
	}
	return int(min(soft-reserve, 1<<30))
}

// UIDRange is an inclusive range of valid uids; the zero value (Set false)
// admits every uid.
type UIDRange struct {
	Lo, Hi uint32
	Set    bool
}

// ErrBadRange is returned by ParseUIDRange for malformed input.
var ErrBadRange = errors.New("bad uid range")

// ParseUIDRange parses "LO-HI" (inclusive, LO <= HI); "" is the unset range.
func ParseUIDRange(s string) (UIDRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return UIDRange{}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return UIDRange{}, fmt.Errorf("%w %q: want LO-HI, e.g. 0-999999", ErrBadRange, s)
	}
	l, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	if err != nil {
		return UIDRange{}, fmt.Errorf("%w %q: low end: %w", ErrBadRange, s, err)
	}
	h, err := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	if err != nil {
		return UIDRange{}, fmt.Errorf("%w %q: high end: %w", ErrBadRange, s, err)
	}
	if l > h {
		return UIDRange{}, fmt.Errorf("%w %q: low end above high end", ErrBadRange, s)
	}
	return UIDRange{Lo: uint32(l), Hi: uint32(h), Set: true}, nil
}

// Contains reports whether uid is valid under r.
func (r UIDRange) Contains(uid uint32) bool {
	return !r.Set || (uid >= r.Lo && uid <= r.Hi)
}

func (r UIDRange) String() string {
	if !r.Set {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// DefaultLoops is one event loop per CPU (GOMAXPROCS). Under paced load
// every loop wakes for its share of each burst of arrivals, and a wake-up
// costs more than the requests it serves: on 2 cores one loop measured
// about 30% less CPU per SHAKE than two (bench_results.txt), but one loop
// is one thread, which saturates near 60,000 SHAKE/s. So default loops
// come in pairs that one thread runs while it has time to spare.
func DefaultLoops() int { return max(runtime.GOMAXPROCS(0), 1) }
