package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/internal/httpserve"
	"github.com/hbctl/hbctl/server/admin"
	"github.com/hbctl/hbctl/server/ledger"
)

// maxLedgerBody bounds an agent's ledger upload: 60,000 users' counters
// and their journal are tens of MB.
const maxLedgerBody = 1 << 30

// longRequest is how long a ledger upload or a verification may take to
// be read and answered.
const longRequest = 30 * time.Minute

// collection is one round of asking the agents for their ledgers through
// the long poll. Guarded by Coordinator.mu.
type collection struct {
	req     api.Collect
	uploads map[string]*api.AgentLedger
}

// verifyState is the coordinator's verification in progress. Guarded by
// Coordinator.mu.
type verifyState struct {
	active bool
	nextID uint64
	round  *collection // nil when no round is open
	// arrived is closed (and replaced) on every upload of the open round.
	arrived chan struct{}
}

// collectingLocked is the Collect every assignment carries while a round
// is open. mu must be held.
func (c *Coordinator) collectingLocked() *api.Collect {
	if c.vs.round == nil {
		return nil
	}
	r := c.vs.round.req
	return &r
}

// handleAgentLedger takes an agent's upload for the open round.
func (c *Coordinator) handleAgentLedger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var up api.AgentLedger
	// A million users' ledger takes a while to upload.
	httpserve.Extend(w, longRequest)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLedgerBody))
	if err := dec.Decode(&up); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad ledger upload: %v", err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reg.byName[name] == nil {
		writeError(w, http.StatusNotFound, errUnknownAgent.Error())
		return
	}
	rd := c.vs.round
	if rd == nil || rd.req.ID != up.ID {
		// A late answer to a round already closed: nothing waits for it.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rd.uploads[name] = &up
	close(c.vs.arrived)
	c.vs.arrived = make(chan struct{})
	w.WriteHeader(http.StatusNoContent)
}

// collectRound asks every registered agent for its ledger (full) or its
// pending count and waits until all have answered or timeout passes. It
// returns the uploads by name and the agents that did not answer.
func (c *Coordinator) collectRound(ctx context.Context, full bool, timeout time.Duration) (map[string]*api.AgentLedger, []string) {
	c.mu.Lock()
	c.vs.nextID++
	rd := &collection{req: api.Collect{ID: c.vs.nextID, Full: full}, uploads: map[string]*api.AgentLedger{}}
	c.vs.round = rd
	if c.vs.arrived == nil {
		c.vs.arrived = make(chan struct{})
	}
	c.bumpLocked()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.vs.round = nil
		c.mu.Unlock()
	}()

	// timeout is the wait for each upload: it restarts whenever one
	// arrives, so that dozens of agents uploading hundreds of thousands of
	// users to a busy coordinator are not cut off while they make
	// progress, and a dead agent still costs only one timeout.
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	got := 0
	for {
		c.mu.Lock()
		var missing []string
		for _, a := range c.reg.sorted() {
			if rd.uploads[a.name] == nil {
				missing = append(missing, a.name)
			}
		}
		n := len(rd.uploads)
		ch := c.vs.arrived
		c.mu.Unlock()
		if len(missing) == 0 {
			return rd.uploads, nil
		}
		if n > got {
			got = n
			timer.Reset(timeout)
		}
		select {
		case <-ch:
		case <-timer.C:
			return rd.uploads, missing
		case <-ctx.Done():
			return rd.uploads, missing
		case <-c.stop:
			return rd.uploads, missing
		}
	}
}

// serverLedger is what one server's admin API gave.
type serverLedger struct {
	records []ledger.Record
	users   []ledger.ServerUser
	stats   serverStats
}

// serverStats is the part of the server's GET /v1/stats verification
// reads.
type serverStats struct {
	Shake     checks.PoolStats `json:"shake"`
	Releasing admin.Releasing  `json:"releasing"`
	UptimeS   float64          `json:"uptime_s"`
	// Restarts are the server's starts after a crash, each with the window
	// its per-user counters missed.
	Restarts []serverRestart `json:"restarts"`
}

// serverRestart is one of a server's restarts after a crash (server
// clock, Unix ms): its counters missed the requests received from
// CheckpointMillis to RestartMillis; not Bounded, they are lost.
type serverRestart = admin.Restart

func (c *Coordinator) fetchStats(ctx context.Context, a api.Admin) (serverStats, error) {
	st, err := c.adminClient(a).Stats(ctx)
	return serverStats{Shake: checks.PoolStats(st.Shake), Releasing: st.Releasing, UptimeS: st.UptimeS, Restarts: st.Restarts}, err
}

// fetchServer takes one server's journal, users and stats. Stats come
// last: the pool balance compares them with the journal, and a quiesced
// server's figures only grow.
func (c *Coordinator) fetchServer(ctx context.Context, a api.Admin) (*serverLedger, error) {
	sl := &serverLedger{}
	cl, lctx, cancel := c.ledgerClient(ctx, a)
	defer cancel()
	var err error
	if sl.records, err = cl.Ledger(lctx); err != nil {
		return nil, err
	}
	if sl.users, err = cl.Users(lctx); err != nil {
		return nil, err
	}
	if sl.stats, err = c.fetchStats(ctx, a); err != nil {
		return nil, err
	}
	return sl, nil
}

// fetchServers takes every admin API's ledgers at once; errs[i] is set for
// a server that could not give them.
func (c *Coordinator) fetchServers(ctx context.Context, admins []api.Admin) ([]*serverLedger, []error) {
	out := make([]*serverLedger, len(admins))
	errs := make([]error, len(admins))
	var wg sync.WaitGroup
	for i, a := range admins {
		if a.URL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.fetchServer(ctx, a)
		}()
	}
	wg.Wait()
	return out, errs
}

// unknownShakes bounds, for each restart an agent reports, the requests
// it may have sent between its counters checkpoint and the restart: every
// fire the plans in force gave its users in that span (from RestartSlack
// before the checkpoint, for fires written late), plus one OPEN per
// ENVELOPE it journaled in the span. One entry per restart and server,
// listing the agent's users on that server, with the span: a recipient of
// a send in it may have had no connection to be notified on.
func unknownShakes(users []schedule.Range, servers []string, up *api.AgentLedger, hist []epoch) []checks.UnknownShakes {
	if len(up.Restarts) == 0 || len(servers) == 0 {
		return nil
	}
	n := uint32(len(servers))
	uids := make([][]uint32, n)
	for _, r := range users {
		for u := r.Lo; u < r.Hi; u++ {
			uids[u%n] = append(uids[u%n], u)
		}
	}
	var out []checks.UnknownShakes
	for _, rs := range up.Restarts {
		lo := rs.CheckpointMillis*int64(time.Millisecond) - int64(RestartSlack)
		hi := rs.RestartMillis * int64(time.Millisecond)
		counts := windowFires(users, n, lo, hi, hist)
		for _, r := range up.Records {
			t := r.T * int64(time.Millisecond)
			if r.Ev != ledger.EvNotify || t < lo || t >= hi {
				continue
			}
			if i := slices.Index(servers, r.Srv); i >= 0 {
				counts[i]++
			} else if n == 1 {
				counts[0]++
			}
		}
		for s := range n {
			if len(uids[s]) == 0 {
				continue
			}
			out = append(out, checks.UnknownShakes{Srv: servers[s], UIDs: uids[s], Count: counts[s],
				FromMillis: lo / int64(time.Millisecond), ToMillis: rs.RestartMillis})
		}
	}
	return out
}

// RestartSlack widens a restart's unknown span before the checkpoint: a
// fire written that late after its intended time was not yet counted.
const RestartSlack = 2 * time.Second

// windowFires counts, per server (uid mod n), the fires the plans in
// force gave users in [lo, hi) (Unix ns).
func windowFires(users []schedule.Range, n uint32, lo, hi int64, hist []epoch) []uint64 {
	counts := make([]uint64, n)
	for i, e := range hist {
		end := int64(1<<63 - 1)
		if i+1 < len(hist) {
			end = hist[i+1].start
		}
		if e.plan == nil || end <= lo || e.start >= hi {
			continue
		}
		cur := e.plan.Cursor(users, max(lo, e.start))
		stop := min(hi, end)
		for {
			f, ok := cur.Next()
			if !ok || f.At >= stop {
				break
			}
			counts[f.UID%n]++
		}
	}
	return counts
}

// serverUnknownCounts bounds, for each crash of server i, what its
// per-user counters missed: every fire the plans in force gave its users
// from RestartSlack before its last checkpoint to its restart, plus one
// OPEN per ENVELOPE its users journaled then (and one per login, which
// may bring envelopes again), one entry per agent holding them. lost is
// set when a restart left nothing to bound it by.
func serverUnknownCounts(i int, servers []string, held map[string][]schedule.Range, ups map[string]*api.AgentLedger,
	hist []epoch, restarts []serverRestart) (out []checks.UnknownShakes, lost bool) {
	n := uint32(len(servers))
	names := make([]string, 0, len(held))
	for name := range held {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, rs := range restarts {
		if !rs.Bounded {
			lost = true
			continue
		}
		lo := rs.CheckpointMillis*int64(time.Millisecond) - int64(RestartSlack)
		hi := rs.RestartMillis*int64(time.Millisecond) + int64(RestartSlack)
		for _, name := range names {
			var uids []uint32
			for _, r := range held[name] {
				for u := r.Lo; u < r.Hi; u++ {
					if u%n == uint32(i) {
						uids = append(uids, u)
					}
				}
			}
			if len(uids) == 0 {
				continue
			}
			count := windowFires(held[name], n, lo, hi, hist)[i]
			if up := ups[name]; up != nil {
				for _, r := range up.Records {
					t := r.T * int64(time.Millisecond)
					if (r.Ev != ledger.EvNotify && r.Ev != ledger.EvLogin) || t < lo || t >= hi {
						continue
					}
					if r.Srv == servers[i] || (r.Srv == "" && n == 1) {
						count++
					}
				}
			}
			out = append(out, checks.UnknownShakes{UIDs: uids, Count: count,
				FromMillis: lo / int64(time.Millisecond), ToMillis: hi / int64(time.Millisecond)})
		}
	}
	return out, lost
}
