package checkstest

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/server/ledger"
)

// Envelope id bases, as the convention of docs/protocol.md has them.
const (
	ShakeBase = 0x100000
	SendBase  = 0x200000
)

// Config shapes a simulated run. Users are numbered 0..Users-1; user u
// logs in to server u % Servers and is held by agent u % Agents.
type Config struct {
	Servers        int
	Agents         int
	Users          int
	ShakesPerUser  int // SHAKEs each user sends
	ShakeEnvelopes int // shake envelopes issued, over all servers
	Granted        int // of which granted; the rest stay in the pools
	SentEnvelopes  int // sent envelopes, over all servers
	Recipients     int // recipients of each sent envelope, 1..3
	// Unknown users have one SHAKE whose outcome their agent cannot know:
	// lost before the server got it, lost after a "none" or a "got"
	// answer, or still pending at the cut, in turn.
	Unknown int
	Seed    uint64
}

// DefaultConfig is a small run with every kind of event and of unknown
// outcome, quick enough for every test.
var DefaultConfig = Config{
	Servers: 2, Agents: 3, Users: 600, ShakesPerUser: 3,
	ShakeEnvelopes: 400, Granted: 360, SentEnvelopes: 60, Recipients: 3,
	Unknown: 24, Seed: 1,
}

// ServerName is the wire address of simulated server i.
func ServerName(i int) string { return fmt.Sprintf("127.0.0.1:%d", 1025+i) }

// AgentName is the name of simulated agent i.
func AgentName(i int) string { return fmt.Sprintf("h%02d", i+1) }

// Generate simulates a run and returns its ledgers, which reconcile with
// zero discrepancies. The same Config always gives the same Input.
func Generate(c Config) *checks.Input {
	g := newGen(c)
	g.shakes()
	g.unknowns()
	g.sends()
	g.finish()
	return g.in
}

type grant struct {
	srv, uid, env, amount uint32
	t                     int64
	lost                  bool // the client never received it
}

type gen struct {
	c      Config
	rng    *rand.Rand
	in     *checks.Input
	t      int64
	grants []grant
	picked map[uint32]bool // users given an unknown outcome
	stats  []checks.PoolStats
}

func newGen(c Config) *gen {
	c.Servers, c.Agents, c.Users = max(c.Servers, 1), max(c.Agents, 1), max(c.Users, c.Servers)
	c.Recipients = min(max(c.Recipients, 1), 3)
	c.Granted = min(c.Granted, c.ShakeEnvelopes, c.Users*c.ShakesPerUser/2)
	g := &gen{
		c:      c,
		rng:    rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
		in:     &checks.Input{Servers: make([]checks.Server, c.Servers), Agents: make([]checks.Agent, c.Agents)},
		t:      1_700_000_000_000,
		picked: map[uint32]bool{},
		stats:  make([]checks.PoolStats, c.Servers),
	}
	for i := range g.in.Servers {
		s := &g.in.Servers[i]
		s.Name = ServerName(i)
		s.Users = make([]ledger.ServerUser, 0, c.Users/c.Servers+1)
	}
	for i := range g.in.Agents {
		a := &g.in.Agents[i]
		a.Name = AgentName(i)
		a.Users = make([]ledger.ClientUser, 0, c.Users/c.Agents+1)
	}
	for u := 0; u < c.Users; u++ {
		uid := uint32(u)
		s := &g.in.Servers[u%c.Servers]
		s.Users = append(s.Users, ledger.ServerUser{UID: uid, Shake: uint64(c.ShakesPerUser)})
		a := &g.in.Agents[u%c.Agents]
		a.Users = append(a.Users, ledger.ClientUser{UID: uid, Srv: s.Name, Shake: uint64(c.ShakesPerUser)})
	}
	return g
}

func (g *gen) su(uid uint32) *ledger.ServerUser {
	return &g.in.Servers[int(uid)%g.c.Servers].Users[int(uid)/g.c.Servers]
}

func (g *gen) cu(uid uint32) *ledger.ClientUser {
	return &g.in.Agents[int(uid)%g.c.Agents].Users[int(uid)/g.c.Agents]
}

func (g *gen) agent(uid uint32) *checks.Agent { return &g.in.Agents[int(uid)%g.c.Agents] }

func (g *gen) tick() int64 { g.t++; return g.t }

// randomUser picks a user of server srv.
func (g *gen) randomUser(srv int) uint32 {
	n := (g.c.Users - srv + g.c.Servers - 1) / g.c.Servers
	return uint32(srv + g.c.Servers*g.rng.IntN(n))
}

// shakes issues the shake envelopes, grants the first Granted of them to
// users with SHAKEs to spare, and answers every other SHAKE with none (or,
// for some users, overloaded).
func (g *gen) shakes() {
	c := g.c
	for k := 0; k < c.ShakeEnvelopes; k++ {
		srv := k % c.Servers
		env := uint32(ShakeBase + k/c.Servers)
		amount := uint32(1 + g.rng.IntN(500))
		s := &g.in.Servers[srv]
		s.Records = append(s.Records, ledger.Record{Ev: ledger.EvIssue, Env: env, Amount: amount, T: g.tick()})
		st := &g.stats[srv]
		st.Issued++
		st.IssuedAmount += int64(amount)
		if k >= c.Granted {
			st.Pool++
			st.PoolAmount += int64(amount)
			continue
		}
		uid := g.randomUser(srv)
		for g.su(uid).Got >= uint64(c.ShakesPerUser) {
			uid = g.randomUser(srv)
		}
		g.su(uid).Got++
		g.cu(uid).Got++
		st.Granted++
		st.GrantedAmount += int64(amount)
		t := g.tick()
		s.Records = append(s.Records, ledger.Record{Ev: ledger.EvGrant, Env: env, UID: uid, Amount: amount, T: t})
		g.grants = append(g.grants, grant{srv: uint32(srv), uid: uid, env: env, amount: amount, t: t})
	}
	for u := 0; u < c.Users; u++ {
		su, cu := g.su(uint32(u)), g.cu(uint32(u))
		if u%11 == 5 && su.Got < su.Shake {
			su.Overloaded, cu.Overloaded = 1, 1
		}
		su.None = su.Shake - su.Got - su.Overloaded
		cu.None = su.None
	}
}

// unknowns gives c.Unknown distinct users one SHAKE of unknown outcome.
func (g *gen) unknowns() {
	for i := 0; i < g.c.Unknown; i++ {
		if i%4 == 2 {
			g.lostGrant()
			continue
		}
		uid, ok := g.pick(func(uid uint32) bool { return g.cu(uid).None > 0 })
		if !ok {
			continue
		}
		su, cu := g.su(uid), g.cu(uid)
		cu.None--
		switch i % 4 {
		case 0: // lost on the way: the server never counted it
			cu.Lost++
			su.Shake--
			su.None--
		case 1: // answered none, the connection closed before the answer
			cu.Lost++
		case 3: // answered none, the answer still in flight at the cut
			cu.Pending++
			cu.Unanswered++
		}
	}
}

// pick finds an unpicked user that satisfies ok, in a bounded search.
func (g *gen) pick(ok func(uint32) bool) (uint32, bool) {
	for try := 0; try < 1000; try++ {
		uid := uint32(g.rng.IntN(g.c.Users))
		if !g.picked[uid] && ok(uid) {
			g.picked[uid] = true
			return uid, true
		}
	}
	return 0, false
}

// lostGrant: the server granted an envelope, the connection closed before
// the SHAKE_RESP arrived.
func (g *gen) lostGrant() {
	if len(g.grants) == 0 {
		return
	}
	for try := 0; try < 1000; try++ {
		gr := &g.grants[g.rng.IntN(len(g.grants))]
		if g.picked[gr.uid] {
			continue
		}
		g.picked[gr.uid] = true
		gr.lost = true
		cu := g.cu(gr.uid)
		cu.Got--
		cu.Lost++
		return
	}
}

// sends creates the sent envelopes, notifies every recipient and has each
// open its share, split by the double-mean method.
func (g *gen) sends() {
	c := g.c
	for _, gr := range g.grants {
		if gr.lost {
			continue
		}
		a := g.agent(gr.uid)
		a.Records = append(a.Records, ledger.Record{Ev: ledger.EvGrant, Env: gr.env, UID: gr.uid, Amount: gr.amount, T: gr.t, Srv: ServerName(int(gr.srv))})
	}
	to := make([]uint32, 0, 3)
	for k := 0; k < c.SentEnvelopes; k++ {
		srv := k % c.Servers
		env := uint32(SendBase + k/c.Servers)
		s := &g.in.Servers[srv]
		to = to[:0]
		for len(to) < c.Recipients && len(to) < (c.Users-srv+c.Servers-1)/c.Servers {
			if uid := g.randomUser(srv); !slices.Contains(to, uid) {
				to = append(to, uid)
			}
		}
		amount := uint32(len(to) + g.rng.IntN(1000))
		s.Records = append(s.Records, ledger.Record{Ev: ledger.EvSend, Env: env, Amount: amount, To: slices.Clone(to), T: g.tick()})
		for _, uid := range to {
			t := g.tick()
			s.Records = append(s.Records, ledger.Record{Ev: ledger.EvNotify, Env: env, UID: uid, T: t})
			a := g.agent(uid)
			a.Records = append(a.Records, ledger.Record{Ev: ledger.EvNotify, Env: env, UID: uid, To: slices.Clone(to), Amount: amount, T: t, Srv: s.Name})
		}
		left := amount
		for i, uid := range to {
			share := left
			if n := uint32(len(to) - i); n > 1 {
				hi := min(2*left/n, left-(n-1))
				share = 1 + uint32(g.rng.IntN(int(hi)))
			}
			left -= share
			t := g.tick()
			s.Records = append(s.Records, ledger.Record{Ev: ledger.EvOpen, Env: env, UID: uid, Amount: share, T: t})
			a := g.agent(uid)
			a.Records = append(a.Records, ledger.Record{Ev: ledger.EvOpen, Env: env, UID: uid, Amount: share, T: t, Srv: s.Name})
			g.su(uid).Open++
			cu := g.cu(uid)
			cu.OpenSent++
			cu.OpenAnswered++
		}
	}
}

func (g *gen) finish() {
	for i := range g.in.Servers {
		st := g.stats[i]
		g.in.Servers[i].Stats = &st
	}
}
