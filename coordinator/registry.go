package coordinator

import (
	"sort"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// agent is one registered agent. Every field is guarded by Coordinator.mu.
type agent struct {
	name       string
	capacity   int
	bind       string
	registered time.Time
	lastSeen   time.Time
	alive      bool
	// users stay assigned while the agent is dead, so that it gets them
	// back when it returns under the same name.
	users   []schedule.Range
	status  api.AgentStatus
	offset  time.Duration
	delay   time.Duration
	clockOK bool
	lastSeq int64 // last heartbeat batch accepted
	// polling counts the agent's long polls in flight; pollLost is when the
	// last one ended because the agent's connection dropped (zero if not).
	// A killed agent's connections close at once: no poll returning within
	// PollGrace declares it dead without waiting out DeadAfter.
	polling  int
	pollLost time.Time
}

func (a *agent) userCount() int {
	n := 0
	for _, r := range a.users {
		n += int(r.Hi - r.Lo)
	}
	return n
}

func (a *agent) info() api.AgentInfo {
	return api.AgentInfo{
		Name:       a.name,
		Alive:      a.alive,
		Capacity:   a.capacity,
		Bind:       a.bind,
		Users:      a.userCount(),
		Conns:      a.status.Established,
		OffsetMs:   float64(a.offset) / float64(time.Millisecond),
		DelayMs:    float64(a.delay) / float64(time.Millisecond),
		LastSeenMs: a.lastSeen.UnixMilli(),
		Registered: a.registered.UnixMilli(),
		PlanID:     a.status.PlanID,
	}
}

// registry holds the agents by name. Guarded by Coordinator.mu.
type registry struct {
	byName map[string]*agent
}

// sorted returns the agents in name order, so splits are reproducible.
func (r *registry) sorted() []*agent {
	out := make([]*agent, 0, len(r.byName))
	for _, a := range r.byName {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (r *registry) alive() []*agent {
	var out []*agent
	for _, a := range r.sorted() {
		if a.alive {
			out = append(out, a)
		}
	}
	return out
}

// liveUsers is the union of the live agents' users, sorted by Lo.
func (r *registry) liveUsers() []schedule.Range {
	var out []schedule.Range
	for _, a := range r.alive() {
		out = append(out, a.users...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out
}
