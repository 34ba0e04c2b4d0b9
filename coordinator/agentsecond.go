package coordinator

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/telemetry"
)

// agentSnaps holds one agent's histogram snapshots of one second until the
// second is final: they are merged once then, so an agent that sent the
// second in several windows still gets exact percentiles.
type agentSnaps struct {
	shake, open, lateness []*hdrhistogram.Snapshot
}

// agentState is an agent's state as its heartbeats report it.
type agentState struct {
	conns             api.Connections
	offsetMs, delayMs float64
}

func (p *pendingSecond) snapsOf(agent string) *agentSnaps {
	a := p.snaps[agent]
	if a == nil {
		a = &agentSnaps{}
		p.snaps[agent] = a
	}
	return a
}

// add keeps w's snapshots that validate; others are left out here as they
// are from the merged second.
func (a *agentSnaps) add(w *api.Window) {
	keep := func(dst []*hdrhistogram.Snapshot, h *api.Hist) []*hdrhistogram.Snapshot {
		if h.Empty() {
			return dst
		}
		s, err := h.Snapshot()
		if err != nil {
			return dst
		}
		return append(dst, s)
	}
	a.shake = keep(a.shake, w.ShakeLatency)
	a.open = keep(a.open, w.OpenLatency)
	a.lateness = keep(a.lateness, w.Lateness)
}

func addAgentCounters(as *AgentSecond, w *api.Window) {
	as.Fires += w.Fires
	as.Got += w.Got
	as.None += w.None
	as.Overloaded += w.Overloaded
	as.Skipped += w.Skipped
	as.Unanswered += w.Unanswered
	as.OpenSent += w.OpenSent
	as.OpenAnswered += w.OpenAnswered
	as.GrantAmount += w.GrantAmount
	as.OpenAmount += w.OpenAmount
	as.Notified += w.Notified
}

// finishAgents merges each agent's snapshots of a second that is now final
// and adds the agent's last reported state. t.mu must be held.
func (t *timeline) finishAgents(p *pendingSecond) {
	for name, as := range p.agents {
		if sn := p.snaps[name]; sn != nil {
			if len(sn.shake) > 0 {
				pc := percentiles(telemetry.Merge(sn.shake...))
				as.Shake, as.P99 = &pc, pc.P99
			}
			if len(sn.open) > 0 {
				pc := percentiles(telemetry.Merge(sn.open...))
				as.Open = &pc
			}
			if len(sn.lateness) > 0 {
				as.LatenessP99 = percentiles(telemetry.Merge(sn.lateness...)).P99
			}
		}
		if st, ok := t.agentState[name]; ok {
			c := st.conns
			as.Conns, as.OffsetMs, as.DelayMs = &c, st.offsetMs, st.delayMs
		}
		p.agents[name] = as
	}
	p.snaps = nil
}

// setAgents records the agents' last reported state for the seconds
// flushed next.
func (t *timeline) setAgents(st map[string]agentState) {
	t.mu.Lock()
	t.agentState = st
	t.mu.Unlock()
}

// agentStatesLocked is every live agent's connections and clock. c.mu must
// be held.
func (c *Coordinator) agentStatesLocked() map[string]agentState {
	out := make(map[string]agentState, len(c.reg.byName))
	for name, a := range c.reg.byName {
		if !a.alive {
			continue
		}
		target := a.userCount()
		if c.run != nil && c.run.disconnected {
			target = 0
		}
		out[name] = agentState{
			conns: api.Connections{Target: target, Established: a.status.Established,
				Failed: a.status.Failed, Closed: a.status.Closed},
			offsetMs: float64(a.offset.Microseconds()) / 1000,
			delayMs:  float64(a.delay.Microseconds()) / 1000,
		}
	}
	return out
}
