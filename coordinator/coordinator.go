package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/httpserve"
)

// Coordinator is the control plane of one run.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	tl  *timeline
	srv *serverRates

	mu  sync.Mutex
	reg registry // mu
	run *run     // mu: nil before the first connect
	// version grows on every change of any agent's assignment; changed is
	// closed (and replaced) then, waking every long poll.
	version int64         // mu
	changed chan struct{} // mu
	nextID  uint64        // mu: the next plan ID
	// history is every plan the agents ran, in order of start, for the
	// target of each second; a nil plan marks a disconnect.
	history []epoch // mu
	// histSaved is HistoryFile as last written. mu.
	histSaved []byte
	vs        verifyState // mu

	host hostCounters // atomic
	http httpserve.Counters

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// run is what connect set up. Guarded by Coordinator.mu.
type run struct {
	servers      []string
	admins       []api.Admin
	users        int
	connectRate  int
	plan         *schedule.Plan // replaced by a re-plan, extended in place by qps set
	queued       *schedule.Plan // a re-plan waiting for plan to start; nil if none
	disconnected bool
}

type epoch struct {
	start int64 // Unix ns
	plan  *schedule.Plan
}

// New opens the data dir (timeline) and returns a coordinator; Start runs
// its background loop.
func New(cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("coordinator: data dir required")
	}
	if cfg.Token == "" {
		return nil, errors.New("coordinator: token required")
	}
	last, err := readPlanID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	hist, err := readHistory(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if n := len(hist); n > 0 && hist[n-1].plan != nil {
		// The run before ends here: this coordinator has none until the
		// next connect, and its agents stop when they register again.
		hist = append(hist, epoch{start: cfg.Now().UnixNano()})
		cfg.Logger.Info("restarted: the plans of the run before are kept for verification; connect again to go on",
			"epochs", n, "last_plan", hist[n-1].plan.ID)
	}
	tl, err := openTimeline(cfg.DataDir, cfg.Sink, cfg.Logger)
	if err != nil {
		return nil, err
	}
	srv := newServerRates(cfg.AdminClient, cfg.Logger)
	tl.srv, tl.serverWait = srv, int64(DefaultServerWait/time.Second)
	return &Coordinator{
		cfg: cfg, log: cfg.Logger, tl: tl, srv: srv,
		reg:     registry{byName: map[string]*agent{}},
		changed: make(chan struct{}),
		nextID:  last + 1,
		history: hist,
		stop:    make(chan struct{}),
	}, nil
}

// PlanIDFile keeps the last plan ID in the data dir: agents ignore a plan
// whose ID is not above the one they run, so a restarted coordinator must
// go on counting.
const PlanIDFile = "plan-id"

func readPlanID(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, PlanIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read plan id: %w", err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("plan id file %s: %w", PlanIDFile, err)
	}
	return id, nil
}

// takePlanIDLocked returns the next plan ID and records it. mu must be
// held.
func (c *Coordinator) takePlanIDLocked() uint64 {
	id := c.nextID
	c.nextID++
	path := filepath.Join(c.cfg.DataDir, PlanIDFile)
	if err := os.WriteFile(path, []byte(strconv.FormatUint(id, 10)+"\n"), 0o644); err != nil {
		c.log.Error("record plan id", "err", err)
	}
	return id
}

// Start runs the loop that declares silent agents dead and finalizes
// seconds of the timeline.
func (c *Coordinator) Start() {
	c.wg.Add(2)
	go c.loop()
	go c.pollServers()
}

// Close stops the loop and closes the timeline.
// It may be called more than once.
func (c *Coordinator) Close() error {
	var err error
	c.stopOnce.Do(func() {
		close(c.stop) // also wakes long polls, so HTTP servers shut down quickly
		c.wg.Wait()
		c.maybeWriteRunHistograms(c.cfg.Now(), true)
		err = c.tl.close()
	})
	return err
}

func (c *Coordinator) loop() {
	defer c.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.tick()
		}
	}
}

// tick declares dead the agents silent for DeadAfter (re-planning over the
// rest) and writes the seconds that are final.
func (c *Coordinator) tick() {
	now := c.cfg.Now()
	c.mu.Lock()
	for _, a := range c.reg.sorted() {
		if !a.alive {
			continue
		}
		why := ""
		switch {
		case now.Sub(a.lastSeen) >= c.cfg.DeadAfter:
			why = fmt.Sprintf("silent for %s", now.Sub(a.lastSeen).Round(time.Millisecond))
		case a.polling == 0 && !a.pollLost.IsZero() && now.Sub(a.pollLost) >= c.cfg.PollGrace:
			why = fmt.Sprintf("connection lost %s ago", now.Sub(a.pollLost).Round(time.Millisecond))
		}
		if why != "" {
			a.alive = false
			c.log.Warn("agent dead", "agent", a.name, "why", why)
			c.eventLocked(now, api.Event{Kind: "agent_dead", Agent: a.name, Detail: why})
			if len(a.users) > 0 {
				c.replanLocked(now, "agent "+a.name+" dead")
			}
		}
	}
	if r := c.run; r != nil && r.queued != nil && now.UnixNano() >= r.plan.Segments[0].T {
		c.log.Info("re-plan published", "plan", r.queued.ID, "start", r.queued.Segments[0].T/1e9)
		c.publishLocked(r.queued)
	}
	hist := make([]epoch, len(c.history))
	for i, e := range c.history {
		hist[i] = epoch{start: e.start, plan: clonePlan(e.plan)}
	}
	conns := c.connectionsLocked()
	c.tl.setAgents(c.agentStatesLocked())
	c.mu.Unlock()

	upTo := now.Add(-c.cfg.Settle).Unix() - 1
	c.tl.flush(upTo, func(sec int64) int64 { return targetAt(hist, sec) }, conns)
	c.maybeWriteRunHistograms(now, false)
}

// targetAt is the plan's fire count in second sec.
func targetAt(hist []epoch, sec int64) int64 {
	ns := sec * int64(time.Second)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].start <= ns {
			if hist[i].plan == nil {
				return 0
			}
			return hist[i].plan.FiresIn(sec)
		}
	}
	return 0
}

// bumpLocked publishes a change of assignments. mu must be held.
func (c *Coordinator) bumpLocked() {
	c.saveHistoryLocked()
	c.version++
	close(c.changed)
	c.changed = make(chan struct{})
}

// eventLocked records an event; mu must be held (the timeline has its own
// lock, taken after mu).
func (c *Coordinator) eventLocked(now time.Time, e api.Event) {
	e.T = now.UnixMilli()
	c.tl.event(e)
}

// connectionsLocked sums the agents' reported connections. mu must be held.
func (c *Coordinator) connectionsLocked() api.Connections {
	var out api.Connections
	for _, a := range c.reg.byName {
		if !a.alive {
			continue
		}
		out.Target += a.userCount()
		out.Established += a.status.Established
		out.Failed += a.status.Failed
		out.Closed += a.status.Closed
	}
	if c.run != nil && c.run.disconnected {
		out.Target = 0
	}
	return out
}

// replanLocked builds plan ID+1 over the live agents' users, at the same
// rate, starting at the first whole second at least ReplanLead ahead, and
// carries over rate changes scheduled after it. If the running plan has
// not started yet, the new one would replace it before it ever ran (agents
// switch to the highest ID), leaving its agents on the plan before: the
// new plan then waits, starting a second after the pending one, and is
// published once that one has started. mu must be held.
func (c *Coordinator) replanLocked(now time.Time, why string) {
	r := c.run
	if r == nil || r.disconnected {
		return
	}
	users := c.reg.liveUsers()
	if len(users) == 0 {
		c.log.Warn("no live agent holds users; plan kept", "plan", r.plan.ID)
		return
	}
	base := r.plan
	if r.queued != nil {
		base = r.queued
	}
	startNs := ceilSecond(now.Add(c.cfg.ReplanLead))
	pending := r.plan.Segments[0].T > now.UnixNano()
	if pending {
		startNs = max(startNs, r.plan.Segments[0].T+int64(time.Second))
	}
	q := base.RateAt(startNs)
	p, err := schedule.NewPlan(c.nextID, users, time.Unix(0, startNs), q)
	if err != nil {
		c.log.Error("re-plan failed", "err", err)
		return
	}
	for _, s := range base.Segments {
		if s.T > startNs {
			if _, err := p.SetRate(s.Q, time.Unix(0, s.T)); err != nil {
				c.log.Error("re-plan: carry rate", "err", err)
			}
		}
	}
	c.takePlanIDLocked()
	detail := fmt.Sprintf("%s: %d users", why, p.U())
	if pending {
		r.queued = &p
		detail += fmt.Sprintf(" (published once plan %d has started)", r.plan.ID)
	} else {
		c.publishLocked(&p)
	}
	c.log.Info("re-planned", "plan", p.ID, "users", p.U(), "q", q, "start", startNs/1e9, "why", why, "queued", pending)
	c.eventLocked(now, api.Event{Kind: "replan", PlanID: p.ID, Q: q, At: startNs / 1e9, Detail: detail})
}

// publishLocked makes p the plan the agents run. mu must be held.
func (c *Coordinator) publishLocked(p *schedule.Plan) {
	c.run.plan, c.run.queued = p, nil
	c.history = append(c.history, epoch{start: p.Segments[0].T, plan: p})
	c.bumpLocked()
}

// clonePlan copies p so that it can be read without mu.
func clonePlan(p *schedule.Plan) *schedule.Plan {
	if p == nil {
		return nil
	}
	q := *p
	q.Users = slices.Clone(p.Users)
	q.Segments = slices.Clone(p.Segments)
	return &q
}

// ceilSecond is t rounded up to a whole second, in Unix ns.
func ceilSecond(t time.Time) int64 {
	ns := t.UnixNano()
	if r := ns % int64(time.Second); r != 0 {
		ns += int64(time.Second) - r
	}
	return ns
}

// assignmentLocked is agent a's current assignment. mu must be held.
func (c *Coordinator) assignmentLocked(a *agent) api.Assignment {
	as := api.Assignment{Version: c.version}
	as.Collect = c.collectingLocked()
	r := c.run
	if r == nil {
		return as
	}
	if r.disconnected {
		as.Disconnected = true
		return as
	}
	as.Servers = r.servers
	as.Users = a.users
	if r.connectRate > 0 && r.users > 0 {
		as.ConnectRate = max(1, int(int64(r.connectRate)*int64(a.userCount())/int64(r.users)))
	}
	as.Plan = clonePlan(r.plan)
	return as
}

// waitAssignment returns agent name's assignment once its version is above
// after, or ok=false when timeout passes or ctx ends first.
func (c *Coordinator) waitAssignment(ctx context.Context, name string, after int64, timeout time.Duration) (api.Assignment, bool, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	c.mu.Lock()
	if a := c.reg.byName[name]; a != nil {
		a.polling++
		a.pollLost = time.Time{}
		defer func() {
			c.mu.Lock()
			a.polling--
			if ctx.Err() != nil {
				a.pollLost = c.cfg.Now()
			}
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		a := c.reg.byName[name]
		if a == nil {
			c.mu.Unlock()
			return api.Assignment{}, false, errUnknownAgent
		}
		if c.version > after {
			as := c.assignmentLocked(a)
			c.mu.Unlock()
			return as, true, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return api.Assignment{}, false, nil
		case <-ctx.Done():
			return api.Assignment{}, false, ctx.Err()
		case <-c.stop:
			return api.Assignment{}, false, nil
		}
	}
}

var errUnknownAgent = errors.New("unknown agent: register first")

// Handler is the HTTP API: /v1/... behind the bearer token, /healthz open.
func (c *Coordinator) Handler() http.Handler {
	v1 := http.NewServeMux()
	v1.HandleFunc("POST "+api.PathRegister, c.handleRegister)
	v1.HandleFunc("POST "+api.PathHeartbeat, c.handleHeartbeat)
	v1.HandleFunc("GET "+api.PathAssignment, c.handleAssignment)
	v1.HandleFunc("POST "+api.PathConnect, c.handleConnect)
	v1.HandleFunc("POST "+api.PathQPS, c.handleQPSSet)
	v1.HandleFunc("GET "+api.PathQPS, c.handleQPSGet)
	v1.HandleFunc("POST "+api.PathShake, c.handleShake)
	v1.HandleFunc("POST "+api.PathSend, c.handleSend)
	v1.HandleFunc("GET "+api.PathStatus, c.handleStatus)
	v1.HandleFunc("POST "+api.PathDisconnect, c.handleDisconnect)
	v1.HandleFunc("POST "+api.PathVerify, c.handleVerify)
	v1.HandleFunc("POST "+api.PathAgentLedger, c.handleAgentLedger)
	v1.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/", requireToken(c.cfg.Token, c.limitBody(c.quietGuard(v1))))
	return mux
}
