package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbctl/hbctl/agents"
	"github.com/hbctl/hbctl/agents/clock"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// Agent is an engine attached to a coordinator.
type Agent struct {
	cfg Config
	log *slog.Logger

	clk  atomic.Pointer[clock.Clock] // nil until registered
	host hostBuffer                  // host sampling for the next heartbeat

	mu      sync.Mutex     // guards the fields below
	engine  *agents.Engine // nil until the first assignment with servers
	servers []string       // engine's servers
	users   []schedule.Range
	version int64 // assignment applied
	backlog []api.Window
	dropped int64

	collected uint64 // last Collect ID answered; the poll goroutine only
}

// New returns an agent; Run attaches it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("agent", cfg.Name)}, nil
}

// local is this host's clock, shifted by the test hook.
func (a *Agent) local() int64 { return time.Now().UnixNano() + int64(a.cfg.ClockSkew) }

// Now is the coordinator's time as best known: the local clock corrected
// by the time service's offset, once measured.
func (a *Agent) Now() int64 {
	if c := a.clk.Load(); c != nil {
		return c.Now()
	}
	return a.local()
}

// Engine returns the engine, nil before the first assignment.
func (a *Agent) Engine() *agents.Engine {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.engine
}

// Run registers and serves until ctx ends (nil then) or the coordinator
// refuses the token (ErrUnauthorized). The engine is closed on return.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeEngine()
	for {
		err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnauthorized) {
			return fmt.Errorf("agent %s: %w: check --token / HBCTL_TOKEN", a.cfg.Name, err)
		}
		a.log.Warn("session ended; registering again", "err", err)
	}
}

// session registers (retrying with backoff), then runs the heartbeat and
// the assignment poll until one of them says the coordinator no longer
// knows this agent.
func (a *Agent) session(ctx context.Context) error {
	var reg api.RegisterResponse
	err := a.retry(ctx, "register", func() error {
		_, err := a.call(ctx, 10*time.Second, http.MethodPost, api.PathRegister,
			api.RegisterRequest{Name: a.cfg.Name, Capacity: a.cfg.Capacity, Bind: a.cfg.Engine.Bind}, &reg)
		return err
	})
	if err != nil {
		return err
	}
	a.log.Info("registered", "coordinator", a.cfg.Coordinator, "time_port", reg.TimePort)
	// Ask for the current assignment at once: the coordinator may be a new
	// one whose versions start again from zero. Applying it again is
	// harmless, and an empty one leaves the running load alone.
	a.mu.Lock()
	a.version = -1
	a.mu.Unlock()
	clkCtx, stopClock := context.WithCancel(ctx)
	defer stopClock()
	a.startClock(clkCtx, reg.TimePort)

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(2)
	every := time.Duration(reg.HeartbeatMillis) * time.Millisecond
	if every <= 0 {
		every = time.Second
	}
	go func() { defer wg.Done(); cancel(a.heartbeats(sctx, every)) }()
	go func() { defer wg.Done(); cancel(a.polls(sctx)) }()
	wg.Wait()
	return context.Cause(sctx)
}

// startClock measures the offset to the coordinator's time service before
// the first assignment is applied (a fire on an unmeasured clock could land
// in the wrong second), then keeps measuring.
func (a *Agent) startClock(ctx context.Context, port int) {
	if port == 0 {
		return
	}
	u, err := url.Parse(a.cfg.Coordinator)
	if err != nil {
		a.log.Error("coordinator URL", "err", err)
		return
	}
	addr := net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	c := clock.New(addr, clock.WithLocalClock(a.local), clock.WithLogger(a.log))
	for i := 0; i < 5; i++ {
		s, err := c.Sync(ctx)
		if err == nil {
			a.log.Info("clock measured", "time", addr, "offset", s.Offset, "delay", s.Delay)
			break
		}
		a.log.Warn("clock sync", "time", addr, "err", err)
		if ctx.Err() != nil {
			return
		}
	}
	a.clk.Store(c)
	go c.Run(ctx)
}

// retry runs f until it succeeds, ctx ends, or the token is refused,
// backing off exponentially with jitter.
func (a *Agent) retry(ctx context.Context, what string, f func() error) error {
	d := a.cfg.BackoffMin
	for {
		err := f()
		if err == nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, errUnknown) {
			return err
		}
		a.log.Warn(what+" failed; retrying", "err", err, "in", d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(jitter(d)):
		}
		d = min(2*d, a.cfg.BackoffMax)
	}
}

// jitter spreads retries of many agents: d/2 .. d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// polls long-polls for assignments and applies them.
func (a *Agent) polls(ctx context.Context) error {
	for {
		a.mu.Lock()
		after := a.version
		a.mu.Unlock()
		var as api.Assignment
		var code int
		err := a.retry(ctx, "poll", func() error {
			var err error
			code, err = a.call(ctx, 60*time.Second, http.MethodGet,
				"/v1/agents/"+url.PathEscape(a.cfg.Name)+"/assignment?after="+strconv.FormatInt(after, 10), nil, &as)
			return err
		})
		if err != nil {
			return err
		}
		if code == http.StatusOK {
			if err := a.apply(as); err != nil {
				a.log.Error("apply assignment", "version", as.Version, "err", err)
			}
			if c := as.Collect; c != nil && c.ID != a.collected {
				a.collected = c.ID
				go a.collect(ctx, *c)
			}
		}
	}
}

// apply makes the engine do what the assignment says.
func (a *Agent) apply(as api.Assignment) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.version = as.Version
	if as.Disconnected {
		if a.engine != nil {
			a.engine.Disconnect()
		}
		a.users = nil
		a.log.Info("disconnected", "version", as.Version)
		return nil
	}
	if len(as.Servers) == 0 {
		return nil
	}
	if a.engine == nil || !slices.Equal(a.servers, as.Servers) {
		if a.engine != nil {
			a.keepWindows(a.engine.TakeWindows())
			if a.engine.Close() == nil {
				a.noteCleanStop()
			}
			a.engine = nil
		}
		a.noteStart()
		ec := a.cfg.Engine
		ec.Servers = as.Servers
		ec.ConnectRate = as.ConnectRate
		ec.Now = a.Now
		ec.Logger = a.cfg.Logger
		e, err := agents.New(ec)
		if err != nil {
			return fmt.Errorf("start engine: %w", err)
		}
		a.engine, a.servers, a.users = e, slices.Clone(as.Servers), nil
	}
	if !slices.Equal(a.users, as.Users) {
		if err := a.engine.Connect(as.Users); err != nil {
			return err
		}
		a.users = slices.Clone(as.Users)
	}
	if as.Plan != nil {
		a.engine.SetPlan(*as.Plan)
	}
	a.log.Info("assignment applied", "version", as.Version, "users", count(as.Users), "plan", planID(as.Plan))
	return nil
}

func planID(p *schedule.Plan) uint64 {
	if p == nil {
		return 0
	}
	return p.ID
}

func count(rs []schedule.Range) int {
	n := 0
	for _, r := range rs {
		n += int(r.Hi - r.Lo)
	}
	return n
}

// keepWindows appends ws to the backlog, dropping the oldest beyond its
// bound. mu must be held.
func (a *Agent) keepWindows(ws []agents.Window) {
	for i := range ws {
		a.backlog = append(a.backlog, toAPI(&ws[i]))
	}
	if over := len(a.backlog) - a.cfg.Backlog; over > 0 {
		a.backlog = slices.Delete(a.backlog, 0, over)
		a.dropped += int64(over)
	}
}

// heartbeats reports once per interval, on absolute ticks.
func (a *Agent) heartbeats(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		seq   int64
		batch []api.Window // sent but not acknowledged: resent as is
	)
	for {
		hb := api.Heartbeat{}
		a.mu.Lock()
		if a.engine != nil {
			a.keepWindows(a.engine.TakeWindows())
			st := a.engine.Status()
			hb.Status = api.AgentStatus{Target: st.Target, Established: st.Established,
				Failed: int64(st.Totals.ConnFailed), Closed: int64(st.Totals.ConnClosed), PlanID: st.PlanID, Rate: st.Rate}
		}
		if batch == nil && len(a.backlog) > 0 {
			batch, a.backlog = a.backlog, nil
			seq++
		}
		hb.DroppedWindows = a.dropped
		a.mu.Unlock()
		hb.Seq, hb.Windows = seq, batch
		hb.Host = a.host.take()
		if c := a.clk.Load(); c != nil {
			off, delay, ok := c.Offset()
			hb.OffsetMicros, hb.DelayMicros, hb.ClockOK = off.Microseconds(), delay.Microseconds(), ok
		}
		_, err := a.call(ctx, 5*time.Second, http.MethodPost, "/v1/agents/"+url.PathEscape(a.cfg.Name)+"/heartbeat", hb, nil)
		switch {
		case err == nil:
			batch = nil
		case errors.Is(err, ErrUnauthorized), errors.Is(err, errUnknown):
			a.requeue(batch)
			return err
		case ctx.Err() != nil:
			a.requeue(batch)
			return ctx.Err()
		default:
			a.log.Warn("heartbeat failed; the load keeps running", "err", err)
		}
		select {
		case <-ctx.Done():
			a.requeue(batch)
			return ctx.Err()
		case <-t.C:
		}
	}
}

// requeue puts an unacknowledged batch back in front of the backlog, for
// the next session.
func (a *Agent) requeue(batch []api.Window) {
	if len(batch) == 0 {
		return
	}
	a.mu.Lock()
	a.backlog = append(batch, a.backlog...)
	a.mu.Unlock()
}

func (a *Agent) closeEngine() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engine != nil {
		if err := a.engine.Close(); err != nil {
			a.log.Error("close engine", "err", err)
		} else {
			a.noteCleanStop()
		}
		a.engine = nil
	}
}
