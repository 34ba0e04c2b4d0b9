package clock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Defaults of a Clock.
const (
	DefaultProbes       = 8
	DefaultInterval     = 30 * time.Second
	DefaultProbeTimeout = 200 * time.Millisecond
	// DefaultRetry is how soon Run tries again after a round with no
	// answer (or the interval, if shorter).
	DefaultRetry = 2 * time.Second
)

// ErrNoAnswer is returned by Sync when no probe of the round was answered.
var ErrNoAnswer = errors.New("clock: time service did not answer")

// Sample is the outcome of one round: the probe with the least delay.
type Sample struct {
	Offset  time.Duration // coordinator time minus local time
	Delay   time.Duration // round trip minus the time the service held the probe
	At      int64         // local time (Unix ns) the chosen answer arrived
	Probes  int           // probes sent in the round
	Answers int           // probes answered in time
}

// Clock estimates the coordinator's time from the local clock. Now and
// Offset are safe for concurrent use and cheap enough for every fire.
type Clock struct {
	addr     string
	probes   int
	interval time.Duration
	timeout  time.Duration
	retry    time.Duration
	local    func() int64
	log      *slog.Logger
	onSync   func(Sample, error)

	offset atomic.Int64 // ns; read by Now without a lock

	round sync.Mutex // held for a whole round: one round at a time

	mu   sync.Mutex // guards last and ok
	last Sample
	ok   bool
}

// Option configures a Clock.
type Option func(*Clock)

// WithProbes sets the number of probes a round sends (at least 1).
func WithProbes(n int) Option { return func(c *Clock) { c.probes = max(1, n) } }

// WithInterval sets how often Run starts a round.
func WithInterval(d time.Duration) Option { return func(c *Clock) { c.interval = d } }

// WithProbeTimeout bounds how long a probe waits for its answer, so a
// round takes at most probes × timeout.
func WithProbeTimeout(d time.Duration) Option { return func(c *Clock) { c.timeout = d } }

// WithRetry sets how soon Run retries after a failed round.
func WithRetry(d time.Duration) Option { return func(c *Clock) { c.retry = d } }

// WithLocalClock replaces the local clock (Unix ns), e.g. to skew one
// agent on purpose in a test; the default is the system clock.
func WithLocalClock(now func() int64) Option { return func(c *Clock) { c.local = now } }

// WithLogger sets where Run logs failed rounds; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *Clock) { c.log = l } }

// WithOnSync registers a function Run calls after every round with its
// outcome, e.g. to report offset and delay. It must not block.
func WithOnSync(f func(Sample, error)) Option { return func(c *Clock) { c.onSync = f } }

// New returns a Clock that measures against the time service at addr
// ("host:port", UDP). It sends nothing until Sync or Run.
func New(addr string, opts ...Option) *Clock {
	c := &Clock{
		addr:     addr,
		probes:   DefaultProbes,
		interval: DefaultInterval,
		timeout:  DefaultProbeTimeout,
		retry:    DefaultRetry,
		local:    func() int64 { return time.Now().UnixNano() },
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Now is the coordinator's time as best known, in Unix ns: the local clock
// plus the last measured offset (the local clock alone before the first
// successful round).
func (c *Clock) Now() int64 { return c.local() + c.offset.Load() }

// Offset is the last good round's offset and delay; ok is false until a
// round succeeds.
func (c *Clock) Offset() (offset, delay time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last.Offset, c.last.Delay, c.ok
}

// Last is the last good round's sample; ok is false until a round
// succeeds.
func (c *Clock) Last() (Sample, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.ok
}

// Run does a round now and then one every interval until ctx is done, and
// returns ctx's error. A failed round is logged and retried sooner; the
// last good sample stays in force meanwhile.
func (c *Clock) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		s, err := c.Sync(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.onSync != nil {
			c.onSync(s, err)
		}
		next := c.interval
		if err != nil {
			c.log.Warn("clock sync failed", "addr", c.addr, "err", err)
			next = min(c.interval, c.retry)
		}
		t.Reset(next)
	}
}

// Sync runs one round now: it sends the probes one after the other, each
// waiting at most the probe timeout, and adopts the answer with the least
// delay, which has the least room for an asymmetric path to bias it. A
// round with no answer returns ErrNoAnswer and keeps the last good sample.
func (c *Clock) Sync(ctx context.Context) (Sample, error) {
	c.round.Lock()
	defer c.round.Unlock()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return Sample{}, fmt.Errorf("clock: dial time service %s: %w", c.addr, err)
	}
	defer conn.Close()
	// Cancelling ctx interrupts a probe waiting for its answer.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	var (
		best    Sample
		answers int
		lastErr error
	)
	buf := make([]byte, api.TimePacketLen+1)
	for range c.probes {
		if err := ctx.Err(); err != nil {
			return Sample{}, fmt.Errorf("clock: sync with %s: %w", c.addr, err)
		}
		s, err := c.probe(ctx, conn, buf)
		if err != nil {
			lastErr = err
			continue
		}
		if answers == 0 || s.Delay < best.Delay {
			best = s
		}
		answers++
	}
	if answers == 0 {
		if err := ctx.Err(); err != nil {
			return Sample{}, fmt.Errorf("clock: sync with %s: %w", c.addr, err)
		}
		return Sample{}, fmt.Errorf("%w: %d probes to %s, %v each (last: %v)",
			ErrNoAnswer, c.probes, c.addr, c.timeout, lastErr)
	}
	best.Probes, best.Answers = c.probes, answers
	c.mu.Lock()
	c.last, c.ok = best, true
	c.offset.Store(int64(best.Offset))
	c.mu.Unlock()
	return best, nil
}

// probe sends one request and waits for its answer: the reply echoing this
// probe's T1. Replies to earlier probes that arrive late, and anything that
// is not a time response, are skipped.
func (c *Clock) probe(ctx context.Context, conn net.Conn, buf []byte) (Sample, error) {
	t1 := c.local()
	req := api.TimePacket{Kind: api.TimeRequest, T1: t1}
	out, _ := req.AppendBinary(buf[:0])
	if _, err := conn.Write(out); err != nil {
		return Sample{}, fmt.Errorf("send probe: %w", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return Sample{}, err
	}
	// A cancel that came before the deadline was set was overwritten by it.
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	for {
		n, err := conn.Read(buf)
		t4 := c.local()
		if err != nil {
			return Sample{}, fmt.Errorf("wait for answer: %w", err)
		}
		var p api.TimePacket
		if p.UnmarshalBinary(buf[:n]) != nil || p.Kind != api.TimeResponse || p.T1 != t1 {
			continue
		}
		delay := (t4 - t1) - (p.T3 - p.T2)
		if delay < 0 || p.T3 < p.T2 {
			// Only a clock stepping mid-probe does this; the sample means
			// nothing.
			continue
		}
		return Sample{
			Offset: time.Duration(((p.T2 - t1) + (p.T3 - t4)) / 2),
			Delay:  time.Duration(delay),
			At:     t4,
		}, nil
	}
}
