package coordinator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/internal/httpserve"
)

func (c *Coordinator) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterRequest
	if !decode(w, r, &req) {
		return
	}
	if err := api.CheckAgentName(req.Name); err != nil {
		writeError(w, http.StatusBadRequest, "name: "+err.Error())
		return
	}
	if req.Capacity <= 0 || req.Capacity > api.MaxCapacity {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("capacity: %d not in 1..%d", req.Capacity, api.MaxCapacity))
		return
	}
	if len(req.Bind) > 256 || len(req.Version) > 256 {
		writeError(w, http.StatusBadRequest, "bind, version: at most 256 bytes")
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	a := c.reg.byName[req.Name]
	switch {
	case a == nil:
		a = &agent{name: req.Name, registered: now}
		c.reg.byName[req.Name] = a
		c.eventLocked(now, api.Event{Kind: "agent_registered", Agent: req.Name,
			Detail: fmt.Sprintf("capacity %d, bind %q", req.Capacity, req.Bind)})
		c.log.Info("agent registered", "agent", req.Name, "capacity", req.Capacity, "bind", req.Bind)
	case !a.alive:
		c.eventLocked(now, api.Event{Kind: "agent_back", Agent: req.Name, Detail: fmt.Sprintf("%d users", a.userCount())})
		c.log.Info("agent back", "agent", req.Name)
	}
	wasAlive := a.alive
	a.capacity, a.bind = req.Capacity, req.Bind
	a.lastSeen, a.alive, a.lastSeq, a.pollLost = now, true, 0, time.Time{}
	if !wasAlive && len(a.users) > 0 {
		c.replanLocked(now, "agent "+a.name+" back")
	}
	resp := api.RegisterResponse{
		TimePort:          c.cfg.TimePort,
		HeartbeatMillis:   c.cfg.Heartbeat.Milliseconds(),
		AssignmentVersion: c.version,
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (c *Coordinator) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var hb api.Heartbeat
	if !decode(w, r, &hb) {
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	a := c.reg.byName[name]
	if a == nil {
		c.mu.Unlock()
		writeError(w, http.StatusNotFound, errUnknownAgent.Error())
		return
	}
	a.lastSeen = now
	a.status = hb.Status
	a.clockOK = hb.ClockOK
	a.offset = time.Duration(hb.OffsetMicros) * time.Microsecond
	a.delay = time.Duration(hb.DelayMicros) * time.Microsecond
	if !a.alive {
		a.alive = true
		c.eventLocked(now, api.Event{Kind: "agent_back", Agent: name, Detail: "heartbeat resumed"})
		if len(a.users) > 0 {
			c.replanLocked(now, "agent "+name+" back")
		}
	}
	fresh := hb.Seq == 0 || hb.Seq > a.lastSeq
	if fresh {
		a.lastSeq = hb.Seq
	}
	version := c.version
	c.mu.Unlock()
	if fresh {
		c.tl.add(name, hb.Windows, now.Unix())
	}
	c.hostPoints(name, hb.Host, now)
	writeJSON(w, http.StatusOK, api.HeartbeatResponse{AssignmentVersion: version})
}

func (c *Coordinator) handleAssignment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil && r.URL.Query().Get("after") != "" {
		writeError(w, http.StatusBadRequest, "after: not an integer")
		return
	}
	// A long poll: answered after up to PollTimeout.
	httpserve.Extend(w, c.cfg.PollTimeout+httpserve.WriteTimeout)
	as, ok, err := c.waitAssignment(r.Context(), name, after, c.cfg.PollTimeout)
	switch {
	case errors.Is(err, errUnknownAgent):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		// The agent went away; nothing to answer.
	case !ok:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, as)
	}
}
