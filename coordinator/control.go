package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

func (c *Coordinator) handleConnect(w http.ResponseWriter, r *http.Request) {
	var req api.ConnectRequest
	if !decode(w, r, &req) {
		return
	}
	if msg := checkConnect(&req); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	// Each admin API must answer its token before anything changes, so a
	// wrong URL or token shows now, not at shake, send or verify.
	if msg := c.probeAdmins(r.Context(), req.Admins); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.reg.alive()
	if len(live) == 0 {
		writeError(w, http.StatusConflict, "no live agents: start hbctl agent first")
		return
	}
	caps := make([]int, len(live))
	for i, a := range live {
		caps[i] = a.capacity
	}
	ranges, err := Split(req.Users, caps)
	var ce *CapacityError
	if errors.As(err, &ce) {
		writeJSON(w, http.StatusConflict, api.Error{Error: err.Error(), Shortfall: ce.Users - ce.Capacity})
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	startNs := ceilSecond(now.Add(c.cfg.ReplanLead))
	p, err := schedule.NewPlan(c.nextID, []schedule.Range{{Lo: 0, Hi: uint32(req.Users)}}, time.Unix(0, startNs), 0)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("plan: %v", err))
		return
	}
	c.takePlanIDLocked()
	for _, a := range c.reg.byName {
		a.users = nil
	}
	resp := api.ConnectResponse{PlanID: p.ID, Users: req.Users, Start: startNs / 1e9, Plan: p}
	for i, a := range live {
		if ranges[i].Hi > ranges[i].Lo {
			a.users = []schedule.Range{ranges[i]}
		}
		resp.Agents = append(resp.Agents, api.AgentShare{Name: a.name, Users: a.users, Count: a.userCount()})
	}
	c.run = &run{servers: req.Servers, admins: req.Admins, users: req.Users, connectRate: req.Rate, plan: &p}
	c.history = append(c.history, epoch{start: startNs, plan: c.run.plan})
	c.bumpLocked()
	c.eventLocked(now, api.Event{Kind: "connect", PlanID: p.ID,
		Detail: fmt.Sprintf("%d users over %d agents to %v", req.Users, len(live), req.Servers)})
	c.log.Info("connect", "users", req.Users, "agents", len(live), "servers", req.Servers, "plan", p.ID)
	resp.Plan = *clonePlan(&p)
	writeJSON(w, http.StatusOK, resp)
}

// checkConnect validates a connect request; it returns what is wrong,
// naming the field, or "".
func checkConnect(req *api.ConnectRequest) string {
	switch {
	case req.Users <= 0 || req.Users > api.MaxUsers:
		return fmt.Sprintf("users: %d not in 1..%d", req.Users, api.MaxUsers)
	case len(req.Servers) == 0:
		return "servers: at least one required"
	case len(req.Servers) > api.MaxServers:
		return fmt.Sprintf("servers: %d is more than %d", len(req.Servers), api.MaxServers)
	case req.Rate < 0 || req.Rate > api.MaxConnectRate:
		return fmt.Sprintf("rate: %d not in 0..%d", req.Rate, api.MaxConnectRate)
	case len(req.Admins) > 0 && len(req.Admins) != len(req.Servers):
		return fmt.Sprintf("admins: %d given for %d servers: give one per server, in server order (an empty url for a server without admin API), or none", len(req.Admins), len(req.Servers))
	}
	for i, s := range req.Servers {
		if err := api.CheckHostPort(s); err != nil {
			return fmt.Sprintf("servers[%d]: %v", i, err)
		}
	}
	for i, a := range req.Admins {
		if a.URL == "" {
			continue // that server has no admin API, said explicitly
		}
		if err := api.CheckBaseURL(a.URL); err != nil {
			return fmt.Sprintf("admins[%d].url: %v", i, err)
		}
		if err := api.CheckToken(a.Token); err != nil {
			return fmt.Sprintf("admins[%d].token: %v", i, err)
		}
	}
	return ""
}

// probeAdmins asks every admin API for its stats with its token, all at
// once, each bounded; it returns what failed, naming the field, or "".
func (c *Coordinator) probeAdmins(ctx context.Context, admins []api.Admin) string {
	errs := make([]error, len(admins))
	var wg sync.WaitGroup
	for i, a := range admins {
		if a.URL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			_, errs[i] = c.srv.fetch(ctx, a)
		}()
	}
	wg.Wait()
	var msgs []string
	for i, err := range errs {
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "401"):
			msgs = append(msgs, fmt.Sprintf("admins[%d].token: refused by %s", i, admins[i].URL))
		default:
			msgs = append(msgs, fmt.Sprintf("admins[%d].url: %s does not answer as an hbctl admin API: %v", i, admins[i].URL, err))
		}
	}
	return strings.Join(msgs, "; ")
}

// probeTimeout bounds connect's check of one admin API.
const probeTimeout = 5 * time.Second

// MinLead is the least time between a rate change and its effect, so every
// agent has received it.
const MinLead = 500 * time.Millisecond

// maxLead is how far ahead a rate change may be scheduled.
const maxLead = 366 * 24 * time.Hour

func (c *Coordinator) handleQPSSet(w http.ResponseWriter, r *http.Request) {
	var req api.QPSRequest
	if !decode(w, r, &req) {
		return
	}
	if err := schedule.CheckRate(req.Q); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("q: %v", err))
		return
	}
	if req.AtMillis < 0 {
		writeError(w, http.StatusBadRequest, "at_ms: must not be negative")
		return
	}
	if req.DelayMillis < 0 {
		writeError(w, http.StatusBadRequest, "delay_ms: must not be negative")
		return
	}
	if req.DelayMillis > maxLead.Milliseconds() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("delay_ms: %d is more than %s ahead", req.DelayMillis, maxLead))
		return
	}
	now := c.cfg.Now()
	at := now.Add(DefaultQPSDelay)
	switch {
	case req.AtMillis > 0:
		at = time.UnixMilli(req.AtMillis)
	case req.DelayMillis > 0:
		at = now.Add(time.Duration(req.DelayMillis) * time.Millisecond)
	}
	if at.Before(now.Add(MinLead)) {
		at = now.Add(MinLead)
	}
	if at.After(now.Add(maxLead)) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at_ms: %d is more than %s ahead", req.AtMillis, maxLead))
		return
	}
	atNs := ceilSecond(at)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil || c.run.disconnected {
		writeError(w, http.StatusConflict, "no plan: run hbctl connect first")
		return
	}
	p := c.run.plan
	eff, err := setRate(p, req.Q, atNs)
	if err == nil && c.run.queued != nil {
		_, err = setRate(c.run.queued, req.Q, atNs)
	}
	switch {
	case errors.Is(err, schedule.ErrBadRate):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("q: %v", err))
		return
	case errors.Is(err, schedule.ErrOverflow), errors.Is(err, schedule.ErrNotAfter):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at_ms: %v", err))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("set rate: %v", err))
		return
	}
	atNs = eff
	c.bumpLocked()
	c.eventLocked(now, api.Event{Kind: "qps", Q: req.Q, At: atNs / 1e9, PlanID: p.ID})
	c.log.Info("qps set", "q", req.Q, "at", atNs/1e9, "plan", p.ID)
	resp := c.qpsLocked(now)
	resp.Effective = atNs / 1e9
	writeJSON(w, http.StatusOK, resp)
}

// setRate makes p fire q from atNs on (a whole second) and returns when
// that takes effect. A later change replaces changes scheduled at or after
// its instant; on a plan that has not started at atNs, it is the first
// rate.
func setRate(p *schedule.Plan, q, atNs int64) (int64, error) {
	if err := schedule.CheckRate(q); err != nil {
		return 0, err
	}
	// On a copy: a change refused leaves p as it was.
	np := *p
	np.Segments = []schedule.Segment{p.Segments[0]}
	for _, s := range p.Segments[1:] {
		if s.T < atNs {
			np.Segments = append(np.Segments, s)
		}
	}
	eff := atNs
	if atNs <= np.Segments[0].T {
		np.Segments[0].Q = q
		eff = np.Segments[0].T
	} else if _, err := np.SetRate(q, time.Unix(0, atNs)); err != nil {
		return 0, err
	}
	p.Segments = np.Segments
	return eff, nil
}

func (c *Coordinator) handleQPSGet(w http.ResponseWriter, r *http.Request) {
	now := c.cfg.Now()
	c.mu.Lock()
	resp := c.qpsLocked(now)
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// qpsLocked describes the rates. mu must be held.
func (c *Coordinator) qpsLocked(now time.Time) api.QPSResponse {
	resp := api.QPSResponse{Now: now.UnixMilli(), Segments: []api.RateSegment{}}
	if c.run == nil || c.run.disconnected {
		return resp
	}
	p := c.run.plan
	resp.PlanID = p.ID
	resp.Current = p.RateAt(now.UnixNano())
	for _, s := range p.Segments {
		resp.Segments = append(resp.Segments, api.RateSegment{T: s.T / 1e9, Q: s.Q})
	}
	return resp
}

func (c *Coordinator) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		writeError(w, http.StatusConflict, "nothing connected")
		return
	}
	resp := api.DisconnectResponse{PlanID: c.run.plan.ID, Agents: len(c.reg.alive())}
	if !c.run.disconnected {
		c.run.disconnected = true
		c.run.queued = nil
		for _, a := range c.reg.byName {
			a.users = nil
		}
		c.history = append(c.history, epoch{start: now.UnixNano()})
		c.bumpLocked()
		c.eventLocked(now, api.Event{Kind: "disconnect", PlanID: c.run.plan.ID})
		c.log.Info("disconnect", "plan", c.run.plan.ID)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (c *Coordinator) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.Status())
}

// Status is what GET /v1/status answers.
func (c *Coordinator) Status() api.Status {
	now := c.cfg.Now()
	st := api.Status{Now: now.UnixMilli(), Agents: []api.AgentInfo{}}
	c.mu.Lock()
	for _, a := range c.reg.sorted() {
		st.Agents = append(st.Agents, a.info())
	}
	st.Connections = c.connectionsLocked()
	if c.run != nil && !c.run.disconnected {
		p := c.run.plan
		st.Plan = api.PlanStatus{ID: p.ID, Users: p.U(), Rate: p.RateAt(now.UnixNano()), Active: true}
		for _, s := range p.Segments {
			st.Plan.Segments = append(st.Plan.Segments, api.RateSegment{T: s.T / 1e9, Q: s.Q})
		}
	}
	var wires []string
	var admins []api.Admin
	if c.run != nil {
		wires, admins = c.run.servers, c.run.admins
	}
	c.mu.Unlock()
	c.tl.fill(&st)
	st.Telemetry = c.telemetryStatus()
	st.Servers = c.srv.servers()
	for i := range st.Servers {
		for k, a := range admins {
			if a.URL == st.Servers[i].Admin && k < len(wires) {
				st.Servers[i].Wire = wires[k]
				break
			}
		}
	}
	h := c.http.Stats()
	st.HTTP = api.HTTPStatus{ClosedByDeadline: h.ClosedByDeadline, TooLarge: h.TooLarge}
	st.Releases = c.srv.releases()
	return st
}
