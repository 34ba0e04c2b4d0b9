package checkstest

import (
	"cmp"
	"slices"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/server/ledger"
)

// k3 keys a record by server, envelope and uid (uid 0 for issue and send).
type k3 struct {
	srv      string
	env, uid uint32
}

// loc is where a record lives: in server srv's journal (agent < 0) or in
// agent agent's journal, at index i.
type loc struct{ srv, agent, i int }

type ukey struct {
	srv string
	uid uint32
}

// index finds records and counters of an Input by key. Mutations build it
// once, pick a target, then edit the Input (which invalidates it).
type index struct {
	in    *checks.Input
	srv   map[string]int
	s     map[string]map[k3][]loc // server records by event kind
	c     map[string]map[k3][]loc // agent records by event kind
	noisy map[ukey]bool           // users with unknown outcomes: faults there may be excused
}

func newIndex(in *checks.Input) *index {
	x := &index{in: in, srv: map[string]int{}, s: map[string]map[k3][]loc{}, c: map[string]map[k3][]loc{}, noisy: map[ukey]bool{}}
	for _, ev := range []string{ledger.EvIssue, ledger.EvGrant, ledger.EvSend, ledger.EvNotify, ledger.EvOpen} {
		x.s[ev], x.c[ev] = map[k3][]loc{}, map[k3][]loc{}
	}
	for si := range in.Servers {
		s := &in.Servers[si]
		x.srv[s.Name] = si
		if s.ClientOnly {
			continue
		}
		for i := range s.Records {
			r := &s.Records[i]
			k := k3{s.Name, r.Env, r.UID}
			if r.Ev == ledger.EvIssue || r.Ev == ledger.EvSend {
				k.uid = 0
			}
			if m := x.s[r.Ev]; m != nil {
				m[k] = append(m[k], loc{si, -1, i})
			}
		}
	}
	for si := range in.Servers {
		for _, p := range in.Servers[si].UnknownCounts {
			for _, uid := range p.UIDs {
				x.noisy[ukey{in.Servers[si].Name, uid}] = true
			}
		}
	}
	for ai := range in.Agents {
		a := &in.Agents[ai]
		for i := range a.Records {
			r := &a.Records[i]
			k := k3{x.name(r.Srv), r.Env, r.UID}
			if m := x.c[r.Ev]; m != nil {
				m[k] = append(m[k], loc{-1, ai, i})
			}
			if r.Ev == ledger.EvDown {
				// A reset may excuse what the user missed: not a
				// healthy connection to inject a fault on.
				x.noisy[ukey{x.name(r.Srv), r.UID}] = true
			}
		}
		for i := range a.Users {
			u := &a.Users[i]
			if u.Lost+u.Pending > 0 || u.OpenSent != u.OpenAnswered {
				x.noisy[ukey{x.name(u.Srv), u.UID}] = true
			}
		}
		for _, p := range a.UnknownShakes {
			for _, uid := range p.UIDs {
				x.noisy[ukey{x.name(p.Srv), uid}] = true
			}
		}
	}
	return x
}

// name resolves an empty "srv" as Verify does.
func (x *index) name(srv string) string {
	if srv == "" && len(x.in.Servers) == 1 {
		return x.in.Servers[0].Name
	}
	return srv
}

func (x *index) admin(srv string) bool {
	i, ok := x.srv[srv]
	return ok && !x.in.Servers[i].ClientOnly
}

func (x *index) quiet(srv string, uid uint32) bool { return !x.noisy[ukey{srv, uid}] }

func (x *index) rec(l loc) *ledger.Record {
	if l.agent >= 0 {
		return &x.in.Agents[l.agent].Records[l.i]
	}
	return &x.in.Servers[l.srv].Records[l.i]
}

// sorted returns the keys of m in a fixed order, so that mutations pick
// the same target every time.
func sorted(m map[k3][]loc) []k3 {
	ks := make([]k3, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b k3) int {
		return cmp.Or(cmp.Compare(a.srv, b.srv), cmp.Compare(a.env, b.env), cmp.Compare(a.uid, b.uid))
	})
	return ks
}

// soleGrant is a grant both sides agree on, of an envelope granted once:
// the cleanest target.
type soleGrant struct {
	k      k3
	s, c   loc
	amount uint32
}

func (x *index) soleGrants(needQuiet bool) []soleGrant {
	perEnv := map[k3]int{}
	for k, ls := range x.s[ledger.EvGrant] {
		perEnv[k3{k.srv, k.env, 0}] += len(ls)
	}
	cPerEnv := map[k3]int{}
	for k, ls := range x.c[ledger.EvGrant] {
		cPerEnv[k3{k.srv, k.env, 0}] += len(ls)
	}
	var out []soleGrant
	for _, k := range sorted(x.s[ledger.EvGrant]) {
		e := k3{k.srv, k.env, 0}
		ss, cs := x.s[ledger.EvGrant][k], x.c[ledger.EvGrant][k]
		if perEnv[e] != 1 || cPerEnv[e] != 1 || len(cs) != 1 || (needQuiet && !x.quiet(k.srv, k.uid)) {
			continue
		}
		if a := x.rec(ss[0]).Amount; a == x.rec(cs[0]).Amount && len(x.s[ledger.EvIssue][e]) == 1 {
			out = append(out, soleGrant{k: k, s: ss[0], c: cs[0], amount: a})
		}
	}
	return out
}

// cleanSend is a sent envelope whose every recipient was notified and
// opened, as both sides agree.
type cleanSend struct {
	k      k3 // uid 0
	send   loc
	to     []uint32
	amount uint32
}

func (x *index) cleanSends() []cleanSend {
	var out []cleanSend
	for _, k := range sorted(x.s[ledger.EvSend]) {
		ls := x.s[ledger.EvSend][k]
		r := x.rec(ls[0])
		if len(ls) != 1 || len(r.To) == 0 || len(x.s[ledger.EvIssue][k]) > 0 {
			continue
		}
		ok := true
		for _, u := range r.To {
			ku := k3{k.srv, k.env, u}
			if len(x.s[ledger.EvNotify][ku]) != 1 || len(x.c[ledger.EvNotify][ku]) != 1 ||
				len(x.s[ledger.EvOpen][ku]) != 1 || len(x.c[ledger.EvOpen][ku]) != 1 {
				ok = false
			}
		}
		if ok {
			out = append(out, cleanSend{k: k, send: ls[0], to: r.To, amount: r.Amount})
		}
	}
	return out
}

// otherUser is a user of server srv that is none of not: from the
// server's counters, else from the agents'.
func (x *index) otherUser(srv string, not []uint32) (uint32, bool) {
	if si, ok := x.srv[srv]; ok {
		for _, u := range x.in.Servers[si].Users {
			if !slices.Contains(not, u.UID) {
				return u.UID, true
			}
		}
	}
	for ai := range x.in.Agents {
		for _, u := range x.in.Agents[ai].Users {
			if x.name(u.Srv) == srv && !slices.Contains(not, u.UID) {
				return u.UID, true
			}
		}
	}
	return 0, false
}

// agentOf is the agent holding user (srv, uid), or agent 0.
func (x *index) agentOf(srv string, uid uint32) int {
	for ai := range x.in.Agents {
		for _, u := range x.in.Agents[ai].Users {
			if u.UID == uid && x.name(u.Srv) == srv {
				return ai
			}
		}
	}
	return 0
}

func (x *index) clientUser(srv string, uid uint32) *ledger.ClientUser {
	for ai := range x.in.Agents {
		us := x.in.Agents[ai].Users
		for i := range us {
			if us[i].UID == uid && x.name(us[i].Srv) == srv {
				return &us[i]
			}
		}
	}
	return nil
}

func (x *index) serverUser(srv string, uid uint32) *ledger.ServerUser {
	si, ok := x.srv[srv]
	if !ok {
		return nil
	}
	us := x.in.Servers[si].Users
	for i := range us {
		if us[i].UID == uid {
			return &us[i]
		}
	}
	return nil
}

// remove deletes records, any number from any journals.
func (x *index) remove(ls ...loc) {
	slices.SortFunc(ls, func(a, b loc) int {
		return cmp.Or(cmp.Compare(a.srv, b.srv), cmp.Compare(a.agent, b.agent), cmp.Compare(b.i, a.i))
	})
	for _, l := range ls {
		if l.agent >= 0 {
			a := &x.in.Agents[l.agent]
			a.Records = slices.Delete(a.Records, l.i, l.i+1)
		} else {
			s := &x.in.Servers[l.srv]
			s.Records = slices.Delete(s.Records, l.i, l.i+1)
		}
	}
}

// lastT is the latest record time in the input, so that added records
// come after everything else.
func (x *index) lastT() int64 {
	var t int64
	for i := range x.in.Servers {
		for _, r := range x.in.Servers[i].Records {
			t = max(t, r.T)
		}
	}
	for i := range x.in.Agents {
		for _, r := range x.in.Agents[i].Records {
			t = max(t, r.T)
		}
	}
	return t
}
