package checks

import (
	"fmt"
	"slices"
)

// sentEnvelope checks one sent envelope of a server with an admin API:
// notifications only to its recipients and to each of them (or excused
// per user later), shares within its amount and equal to it once every
// recipient opened, nobody paid twice, and server opens = client opens
// per (uid, share).
func (v *verifier) sentEnvelope(srv int, env uint32, g *group) {
	sends, sn, cn, so, co := g.k[rSend], g.k[rNotify], g.k[cNotify], g.k[rOpen], g.k[cOpen]
	name := v.name(srv)
	if len(sends) == 0 {
		if n := len(sn) + len(cn) + len(so) + len(co); n > 0 && len(g.k[rIssue])+len(g.k[rGrant])+len(g.k[cGrant]) == 0 {
			r := firstRow(sn, so, cn, co)
			v.disc.add(Discrepancy{Kind: KindNotSent, Server: name, Agent: v.agentName(r.agent), Env: ptr(env), UID: ptr(r.uid),
				ServerValue: int64(len(sn) + len(so)), ClientValue: int64(len(cn) + len(co)),
				Detail: fmt.Sprintf("never sent, yet %d notifications and %d opens on the server, %d and %d on clients", len(sn), len(so), len(cn), len(co))})
		} else if n > 0 {
			r := firstRow(sn, so, cn, co)
			v.disc.add(Discrepancy{Kind: KindNotSent, Server: name, Agent: v.agentName(r.agent), Env: ptr(env), UID: ptr(r.uid),
				ServerValue: int64(len(sn) + len(so)), ClientValue: int64(len(cn) + len(co)),
				Detail: "notified or opened as a sent envelope, but it is a shake envelope"})
		}
		return
	}
	send := &sends[0]
	to, amount := v.recipients(send), send.amount

	// Notifications.
	flagged := v.flagged[:0] // uids already reported as non-recipients
	for i := range sn {
		s := &sn[i]
		if i > 0 && sn[i-1].uid == s.uid {
			continue
		}
		if !slices.Contains(to, s.uid) {
			v.disc.add(Discrepancy{Kind: KindNotifyNotRecipient, Server: name, Env: ptr(env), UID: ptr(s.uid),
				ServerValue: 1, ClientValue: int64(countUID(cn, s.uid)),
				Detail: fmt.Sprintf("ENVELOPE written to uid %d, recipients %v", s.uid, to)})
			flagged = append(flagged, s.uid)
		}
	}
	for i := range cn {
		c := &cn[i]
		if i > 0 && cn[i-1].uid == c.uid {
			continue
		}
		named := v.recipients(c)
		if !slices.Contains(to, c.uid) || !slices.Contains(named, c.uid) {
			if !slices.Contains(flagged, c.uid) {
				v.disc.add(Discrepancy{Kind: KindNotifyNotRecipient, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
					ServerValue: int64(countUID(sn, c.uid)), ClientValue: 1,
					Detail: fmt.Sprintf("ENVELOPE received by uid %d naming %v, recipients %v", c.uid, named, to)})
				flagged = append(flagged, c.uid)
			}
			continue
		}
		if c.amount != amount || !slices.Equal(named, to) {
			v.disc.add(Discrepancy{Kind: KindNotifyContent, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ServerValue: int64(amount), ClientValue: int64(c.amount),
				Detail: fmt.Sprintf("sent %d cents to %v, received as %d cents to %v", amount, to, c.amount, named)})
		}
		if countUID(sn, c.uid) == 0 {
			v.disc.add(Discrepancy{Kind: KindNotifyMissingServer, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ServerValue: 0, ClientValue: 1,
				Detail: fmt.Sprintf("uid %d received the ENVELOPE; the server journaled no notification", c.uid)})
		}
	}
	for i, u := range to {
		if slices.Contains(to[:i], u) {
			continue
		}
		switch sN, cN := countUID(sn, u) > 0, countUID(cn, u) > 0; {
		case !sN && !cN:
			v.missing = append(v.missing, missing{user: userKey(srv, u), t: send.t, env: env, amount: amount, what: missRecipient})
		case sN && !cN:
			// Timed by the last ENVELOPE written: a reset after it may have
			// swallowed it.
			v.missing = append(v.missing, missing{user: userKey(srv, u), t: lastOfUID(sn, u), env: env, amount: amount, what: missNotify})
		}
	}
	v.flagged = flagged

	// Shares paid by the server.
	flaggedOpen := v.flaggedOpen[:0]
	var sum uint64
	opened, recipients := 0, distinct(to)
	for i := 0; i < len(so); {
		j := runOfUID(so, i)
		s := &so[i]
		if j-i > 1 {
			v.disc.add(Discrepancy{Kind: KindPaidTwice, Server: name, Env: ptr(env), UID: ptr(s.uid),
				ServerValue: int64(j - i), ClientValue: int64(countUID(co, s.uid)),
				Detail: fmt.Sprintf("the server paid uid %d %d times", s.uid, j-i)})
		}
		if !slices.Contains(to, s.uid) {
			v.disc.add(Discrepancy{Kind: KindOpenNotRecipient, Server: name, Env: ptr(env), UID: ptr(s.uid),
				ServerValue: int64(s.amount), ClientValue: int64(shareOf(co, s.uid)),
				Detail: fmt.Sprintf("the server paid %d cents to uid %d, recipients %v", s.amount, s.uid, to)})
			flaggedOpen = append(flaggedOpen, s.uid)
		} else {
			sum += uint64(s.amount)
			opened++
		}
		i = j
	}
	v.shares(name, env, amount, sum, opened, recipients)

	// Shares received by clients, against the server's.
	for i, j := 0, 0; i < len(so) || j < len(co); {
		switch {
		case j == len(co) || (i < len(so) && so[i].uid < co[j].uid):
			if s := &so[i]; slices.Contains(to, s.uid) {
				v.missing = append(v.missing, missing{user: userKey(srv, s.uid), t: s.t, env: env, amount: s.amount, what: missOpen})
			}
			i = runOfUID(so, i)
		case i == len(so) || co[j].uid < so[i].uid:
			c := &co[j]
			switch {
			case !slices.Contains(to, c.uid):
				if !slices.Contains(flaggedOpen, c.uid) {
					v.disc.add(Discrepancy{Kind: KindOpenNotRecipient, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
						ClientValue: int64(c.amount),
						Detail:      fmt.Sprintf("uid %d received %d cents, recipients %v", c.uid, c.amount, to)})
					flaggedOpen = append(flaggedOpen, c.uid)
				}
			default:
				v.disc.add(Discrepancy{Kind: KindOpenMissingServer, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
					ClientValue: int64(c.amount),
					Detail:      fmt.Sprintf("uid %d received %d cents; the server journaled no share", c.uid, c.amount)})
			}
			j = runOfUID(co, j)
		default:
			s := &so[i]
			je := runOfUID(co, j)
			for k := j; k < je; k++ {
				if c := &co[k]; c.amount != s.amount {
					v.disc.add(Discrepancy{Kind: KindOpenAmount, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
						ServerValue: int64(s.amount), ClientValue: int64(c.amount),
						Detail: fmt.Sprintf("the server paid uid %d %d cents, the client received %d", c.uid, s.amount, c.amount)})
					break
				}
			}
			i, j = runOfUID(so, i), je
		}
	}
	v.flaggedOpen = flaggedOpen
}

// shares checks the sum of the shares paid to distinct recipients.
func (v *verifier) shares(name string, env, amount uint32, sum uint64, opened, recipients int) {
	switch {
	case sum > uint64(amount):
		v.disc.add(Discrepancy{Kind: KindSharesExceed, Server: name, Env: ptr(env),
			ServerValue: int64(amount), ClientValue: int64(sum),
			Detail: fmt.Sprintf("%d recipients paid %d cents in all, the envelope holds %d", opened, sum, amount)})
	case opened == recipients && sum < uint64(amount):
		v.disc.add(Discrepancy{Kind: KindSharesShort, Server: name, Env: ptr(env),
			ServerValue: int64(amount), ClientValue: int64(sum),
			Detail: fmt.Sprintf("all %d recipients opened and were paid %d cents, the envelope holds %d", opened, sum, amount)})
	}
}

// sentEnvelopeClientOnly checks what clients alone can prove about a sent
// envelope: each ENVELOPE names the uid it was delivered to, all copies
// agree, nobody received two different shares, and the shares stay
// within the amount (and reach it once every named recipient opened).
func (v *verifier) sentEnvelopeClientOnly(srv int, env uint32, g *group) {
	cn, co := g.k[cNotify], g.k[cOpen]
	if len(cn)+len(co) == 0 {
		return
	}
	name := v.name(srv)
	var ref *row // the first ENVELOPE that names its own receiver
	for i := range cn {
		if slices.Contains(v.recipients(&cn[i]), cn[i].uid) {
			ref = &cn[i]
			break
		}
	}
	for i := range cn {
		c := &cn[i]
		named := v.recipients(c)
		switch {
		case !slices.Contains(named, c.uid):
			v.disc.add(Discrepancy{Kind: KindNotifyNotRecipient, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ClientValue: 1,
				Detail:      fmt.Sprintf("ENVELOPE naming %v delivered to uid %d", named, c.uid)})
		case c != ref && (c.amount != ref.amount || !slices.Equal(named, v.recipients(ref))):
			v.disc.add(Discrepancy{Kind: KindNotifyContent, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ServerValue: int64(ref.amount), ClientValue: int64(c.amount),
				Detail: fmt.Sprintf("uid %d received %d cents to %v, uid %d received %d cents to %v",
					ref.uid, ref.amount, v.recipients(ref), c.uid, c.amount, named)})
		}
	}
	var to []uint32
	if ref != nil {
		to = v.recipients(ref)
	}
	var sum uint64
	opened := 0
	for i := 0; i < len(co); {
		j := runOfUID(co, i)
		c := &co[i]
		for k := i + 1; k < j; k++ {
			if co[k].amount != c.amount {
				v.disc.add(Discrepancy{Kind: KindPaidTwice, Server: name, Agent: v.agentName(co[k].agent), Env: ptr(env), UID: ptr(c.uid),
					ClientValue: int64(j - i),
					Detail:      fmt.Sprintf("uid %d received two different shares, %d and %d cents", c.uid, c.amount, co[k].amount)})
				break
			}
		}
		switch {
		case ref == nil:
		case !slices.Contains(to, c.uid):
			v.disc.add(Discrepancy{Kind: KindOpenNotRecipient, Server: name, Agent: v.agentName(c.agent), Env: ptr(env), UID: ptr(c.uid),
				ClientValue: int64(c.amount),
				Detail:      fmt.Sprintf("uid %d received %d cents, recipients %v", c.uid, c.amount, to)})
		default:
			sum += uint64(c.amount)
			opened++
		}
		i = j
	}
	if ref != nil {
		v.shares(name, env, ref.amount, sum, opened, distinct(to))
	}
}

// runOfUID returns the end of the run of rows with the uid of rs[i].
func runOfUID(rs []row, i int) int {
	j := i + 1
	for j < len(rs) && rs[j].uid == rs[i].uid {
		j++
	}
	return j
}

func countUID(rs []row, uid uint32) int {
	n := 0
	for i := range rs {
		if rs[i].uid == uid {
			n++
		}
	}
	return n
}

// lastOfUID is the latest time of uid's rows.
func lastOfUID(rs []row, uid uint32) int64 {
	var t int64
	for i := range rs {
		if rs[i].uid == uid {
			t = max(t, rs[i].t)
		}
	}
	return t
}

func shareOf(rs []row, uid uint32) uint32 {
	for i := range rs {
		if rs[i].uid == uid {
			return rs[i].amount
		}
	}
	return 0
}

func distinct(to []uint32) int {
	n := 0
	for i, u := range to {
		if !slices.Contains(to[:i], u) {
			n++
		}
	}
	return n
}

func firstRow(parts ...[]row) *row {
	for _, p := range parts {
		if len(p) > 0 {
			return &p[0]
		}
	}
	return nil
}
