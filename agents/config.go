package agents

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultConnectRate   = 20000 // connections a second, new and re-established alike
	DefaultTimeout       = 5 * time.Second
	DefaultOpenDelayMax  = 100 * time.Millisecond
	DefaultMaxPending    = 16 // SHAKEs awaiting an answer on one connection before it is closed
	DefaultBackoffMin    = 100 * time.Millisecond
	DefaultBackoffMax    = 10 * time.Second
	DefaultWindowBacklog = 300 // completed windows kept for TakeWindows
	// DefaultWakeGrid trades lateness for CPU: fires due within one step
	// share a timer wake-up and go out together, and their answers are
	// read at the next one. At 10,000 SHAKEs a second it takes context
	// switches per SHAKE from 2 to 0.75 and CPU by 40%, for 0.2 ms more
	// median lateness (bench_results.txt).
	DefaultWakeGrid = 500 * time.Microsecond
)

// maxPendingCap bounds MaxPending: the queue is a fixed array in each
// connection so that it costs nothing to allocate.
const maxPendingCap = 16

// Config configures an Engine. Zero fields take the defaults above.
type Config struct {
	Name    string   // the agent's name, carried in windows and status
	Servers []string // host:port; user u dials Servers[u mod len(Servers)]
	Bind    string   // optional local IP to dial from
	DataDir string   // ledger.jsonl and counters.json live here

	ConnectRate int           // connection attempts a second, shared by all users
	Timeout     time.Duration // a SHAKE unanswered this long is counted unanswered; also the dial+login timeout
	// OPEN is sent at a random delay in [OpenDelayMin, OpenDelayMax) after
	// the ENVELOPE; equal bounds are a fixed delay. Both zero means 0-100 ms.
	OpenDelayMin, OpenDelayMax time.Duration
	// IgnoreOverload turns off the back-off after a SHAKE_RESP 17: by
	// default the user skips its next fire, then 2, 4 ... while overloads
	// continue.
	IgnoreOverload bool

	MaxPending             int           // pending SHAKEs per connection before it is closed
	BackoffMin, BackoffMax time.Duration // reconnect back-off bounds (jittered, doubling)
	// Loops: event loops, each on a thread of its own. When 0, one per
	// CPU (DefaultLoops), run two to a thread while lightly loaded (see
	// pair.go).
	Loops         int
	WindowBacklog int // completed windows kept; older ones are dropped and counted
	// WakeGrid: a loop's timer wakes it only on multiples of this step
	// (offset per loop), so a fire is up to one step late. A loop due
	// again within a step naps through it (internal/netpoll). Negative: wake
	// at each fire's intended time.
	WakeGrid time.Duration

	Now    func() int64 // coordinator time, Unix ns; default the local clock
	Logger *slog.Logger

	paired bool // Loops was 0: loops come in pairs that merge when idle
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("agents: bad config")

func (c *Config) setDefaults() error {
	if len(c.Servers) == 0 {
		return fmt.Errorf("%w: no servers", ErrConfig)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: no data dir", ErrConfig)
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = DefaultConnectRate
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OpenDelayMin == 0 && c.OpenDelayMax == 0 {
		c.OpenDelayMax = DefaultOpenDelayMax
	}
	if c.OpenDelayMax < c.OpenDelayMin {
		return fmt.Errorf("%w: open delay max %v below min %v", ErrConfig, c.OpenDelayMax, c.OpenDelayMin)
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPending > maxPendingCap {
		return fmt.Errorf("%w: max pending %d above %d", ErrConfig, c.MaxPending, maxPendingCap)
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.Loops <= 0 {
		c.Loops, c.paired = DefaultLoops(), true
	}
	if c.WakeGrid == 0 {
		c.WakeGrid = DefaultWakeGrid
	}
	if c.WindowBacklog <= 0 {
		c.WindowBacklog = DefaultWindowBacklog
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixNano() }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// DefaultLoops is one event loop per CPU (GOMAXPROCS). Paced load costs
// wake-ups more than work, and each loop wakes on its own for its share of
// every grid step: on 2 cores one loop measured about 30% less CPU per
// SHAKE than two at 10,000 SHAKE/s, and two kept to the target at 60,000/s
// where one fell behind (bench_results.txt). So default loops come in pairs
// that one thread runs while it has time to spare, and that split when it
// has not.
func DefaultLoops() int { return max(runtime.GOMAXPROCS(0), 1) }
