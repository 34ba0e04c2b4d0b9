package checks

import "fmt"

// poolTally is what the ledgers say one server issued and granted: each
// envelope counted once, at its issued amount. An envelope counts as
// granted when the server journaled its grant or a client proves it
// received it, so a grant record the server lost is reported once, as
// grant_missing_server, and not again as a stats mismatch.
type poolTally struct {
	issued, granted Amount
}

func (v *verifier) tally(srv int) *poolTally {
	if v.pools == nil {
		v.pools = make([]poolTally, len(v.in.Servers))
	}
	return &v.pools[srv]
}

// shakeEnvelope checks one shake envelope of a server with an admin API:
// issued once, granted at most once at its issued amount, and the grants
// the server journaled equal, as a set of (uid, amount), the grants the
// clients received. A grant no client received is settled per user later.
func (v *verifier) shakeEnvelope(srv int, env uint32, g *group) {
	issues, sg, cg := g.k[rIssue], g.k[rGrant], g.k[cGrant]
	if len(issues)+len(sg)+len(cg) == 0 {
		return
	}
	name := v.name(srv)
	granted := len(sg)+len(cg) > 0
	issued := len(issues) > 0
	var amount uint32
	if issued {
		amount = issues[0].amount
		t := v.tally(srv)
		t.issued.add(amount)
		if granted {
			t.granted.add(amount)
		}
		for i := range sg {
			if s := &sg[i]; s.amount != amount {
				v.disc.add(Discrepancy{Kind: KindGrantNotAsIssued, Server: name, Env: ptr(env), UID: ptr(s.uid),
					ServerValue: int64(amount), ClientValue: int64(s.amount),
					Detail: fmt.Sprintf("issued with %d cents, granted to uid %d with %d", amount, s.uid, s.amount)})
			}
		}
	} else if granted {
		r, agent := &sg, int32(-1)
		if len(sg) == 0 {
			r, agent = &cg, cg[0].agent
		}
		v.disc.add(Discrepancy{Kind: KindGrantNotIssued, Server: name, Agent: v.agentName(agent), Env: ptr(env), UID: ptr((*r)[0].uid),
			ServerValue: int64(len(sg)), ClientValue: int64(len(cg)),
			Detail: fmt.Sprintf("never issued, yet %d grants on the server and %d received by clients", len(sg), len(cg))})
	}
	twice := false
	if len(sg) > 1 {
		r := latest(sg)
		v.disc.add(Discrepancy{Kind: KindGrantedTwice, Server: name, Env: ptr(env), UID: ptr(r.uid),
			ServerValue: int64(len(sg)), ClientValue: int64(len(cg)),
			Detail: fmt.Sprintf("the server journaled %d grants of one envelope, the last to uid %d", len(sg), r.uid)})
		twice = true
	}

	// Sort-merge the two sides by uid; what is left unmatched on both
	// sides is paired up as a disagreement on who got the envelope.
	unS, unC := v.scratchS[:0], v.scratchC[:0]
	for i, j := 0, 0; i < len(sg) || j < len(cg); {
		switch {
		case j == len(cg) || (i < len(sg) && sg[i].uid < cg[j].uid):
			unS = append(unS, sg[i])
			i++
		case i == len(sg) || cg[j].uid < sg[i].uid:
			unC = append(unC, cg[j])
			j++
		default:
			if s, c := &sg[i], &cg[j]; s.amount != c.amount {
				v.disc.add(Discrepancy{Kind: KindGrantAmount, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
					ServerValue: int64(s.amount), ClientValue: int64(c.amount),
					Detail: fmt.Sprintf("granted %d cents, received %d", s.amount, c.amount)})
			}
			i++
			j++
		}
	}
	n := min(len(unS), len(unC))
	for p := 0; p < n; p++ {
		s, c := &unS[p], &unC[p]
		v.disc.add(Discrepancy{Kind: KindGrantUID, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
			ServerValue: int64(s.uid), ClientValue: int64(c.uid),
			Detail: fmt.Sprintf("the server granted it to uid %d (%d cents), a client received it as uid %d (%d cents)", s.uid, s.amount, c.uid, c.amount)})
	}
	for _, s := range unS[n:] {
		v.missing = append(v.missing, missing{user: userKey(srv, s.uid), t: s.t, env: env, amount: s.amount, what: missGrant})
	}
	for p := range unC[n:] {
		c := &unC[n+p]
		switch {
		case len(sg) > 0:
			if !twice {
				v.disc.add(Discrepancy{Kind: KindGrantedTwice, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
					ServerValue: int64(len(sg)), ClientValue: int64(len(cg)),
					Detail: fmt.Sprintf("granted once by the server, received %d times by clients, also by uid %d", len(cg), c.uid)})
				twice = true
			}
		case issued:
			v.disc.add(Discrepancy{Kind: KindGrantMissingServer, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ServerValue: 0, ClientValue: int64(c.amount),
				Detail: fmt.Sprintf("uid %d received %d cents; the server journaled no grant of it", c.uid, c.amount)})
		}
	}
	v.scratchS, v.scratchC = unS, unC
}

// shakeEnvelopeClientOnly checks what clients alone can prove about a
// shake envelope: nobody received it twice.
func (v *verifier) shakeEnvelopeClientOnly(srv int, env uint32, g *group) {
	cg := g.k[cGrant]
	if len(cg) < 2 {
		return
	}
	r := latest(cg)
	v.disc.add(Discrepancy{Kind: KindGrantedTwice, Server: v.name(srv), Agent: v.agentName(r.agent), Env: ptr(env), UID: ptr(r.uid),
		ClientValue: int64(len(cg)),
		Detail:      fmt.Sprintf("clients received %d grants of one envelope, the last as uid %d", len(cg), r.uid)})
}

// poolBalance checks, per server, issued = granted + left in pools from
// the admin stats, and that the stats agree with the ledgers.
func (v *verifier) poolBalance() {
	for si := range v.in.Servers {
		s := &v.in.Servers[si]
		if !v.admin[si] || s.Stats == nil {
			continue
		}
		st, t := s.Stats, v.tally(si)
		v.compare(si, KindPoolBalance, "envelopes", st.Issued, st.Granted+st.Pool, "stats: issued vs granted + pool")
		v.compare(si, KindPoolBalance, "cents", st.IssuedAmount, st.GrantedAmount+st.PoolAmount, "stats: issued vs granted + pool")
		v.compare(si, KindIssuedStats, "envelopes", st.Issued, int64(t.issued.Count), "issued: stats vs journal")
		v.compare(si, KindIssuedStats, "cents", st.IssuedAmount, int64(t.issued.Cents), "issued: stats vs journal")
		v.compare(si, KindGrantedStats, "envelopes", st.Granted, int64(t.granted.Count), "granted: stats vs ledgers")
		v.compare(si, KindGrantedStats, "cents", st.GrantedAmount, int64(t.granted.Cents), "granted: stats vs ledgers")
	}
}

func (v *verifier) compare(srv int, k Kind, unit string, sv, cv int64, what string) {
	if sv == cv {
		return
	}
	v.disc.add(Discrepancy{Kind: k, Server: v.name(srv), ServerValue: sv, ClientValue: cv,
		Detail: fmt.Sprintf("%s in %s: %d vs %d", what, unit, sv, cv)})
}
