package checks

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hbctl/hbctl/server/ledger"
)

// uref points at one per-user counter line: of server src, or of agent
// src, at index idx.
type uref struct {
	key uint64 // server<<32 | uid
	src int32
	idx int32
}

// compareURef orders by key alone: lines of one user (in several agents)
// are summed, so their order does not matter.
func compareURef(a, b uref) int { return cmp.Compare(a.key, b.key) }

// pref says user key may draw on UnknownShakes bound number pool.
type pref struct {
	key  uint64
	pool int32
}

// users merges, user by user, the servers' counters, the agents'
// counters, the agents' unknown-outcome bounds and the server events no
// client saw, all sorted by (server, uid), and checks each user.
func (v *verifier) users() error {
	ns, nc := 0, 0
	for si := range v.in.Servers {
		if v.admin[si] {
			ns += len(v.in.Servers[si].Users)
		}
	}
	for ai := range v.in.Agents {
		nc += len(v.in.Agents[ai].Users)
	}
	sr := make([]uref, 0, ns)
	for si := range v.in.Servers {
		if !v.admin[si] {
			continue
		}
		for i := range v.in.Servers[si].Users {
			sr = append(sr, uref{key: userKey(si, v.in.Servers[si].Users[i].UID), src: int32(si), idx: int32(i)})
		}
	}
	sortIfNeeded(sr)

	cr := make([]uref, 0, nc)
	var pr []pref
	for ai := range v.in.Agents {
		a := &v.in.Agents[ai]
		lastName, lastSrv := "\x00", 0
		for i := range a.Users {
			u := &a.Users[i]
			if u.Srv != lastName {
				si, err := v.server(u.Srv)
				if err != nil {
					return fmt.Errorf("agent %s counters of uid %d: %w", a.Name, u.UID, err)
				}
				lastName, lastSrv = u.Srv, si
			}
			cr = append(cr, uref{key: userKey(lastSrv, u.UID), src: int32(ai), idx: int32(i)})
		}
		for _, p := range a.UnknownShakes {
			si, err := v.server(p.Srv)
			if err != nil {
				return fmt.Errorf("agent %s unknown shakes: %w", a.Name, err)
			}
			v.rep.Unknown.AfterCheckpointBound += p.Count
			n := int32(len(v.poolLeft))
			v.poolLeft = append(v.poolLeft, p.Count)
			v.poolSpan = append(v.poolSpan, [2]int64{p.FromMillis, p.ToMillis})
			for _, uid := range p.UIDs {
				pr = append(pr, pref{key: userKey(si, uid), pool: n})
			}
		}
	}
	sortIfNeeded(cr)
	byPool := func(a, b pref) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.pool, b.pool)) }
	slices.SortFunc(pr, byPool)
	var spr []pref
	for si := range v.in.Servers {
		if !v.admin[si] {
			continue
		}
		for _, p := range v.in.Servers[si].UnknownCounts {
			v.rep.Unknown.ServerCountsBound += p.Count
			n := int32(len(v.spoolLeft))
			v.spoolLeft = append(v.spoolLeft, p.Count)
			for _, uid := range p.UIDs {
				spr = append(spr, pref{key: userKey(si, uid), pool: n})
			}
		}
	}
	slices.SortFunc(spr, byPool)
	slices.SortFunc(v.missing, compareMissing)

	ms, ds := v.missing, v.downs
	var si, ci, pi, qi, mi, di int
	var pools, spools []int32
	for {
		k, ok := uint64(0), false
		head := func(has bool, key uint64) {
			if has && (!ok || key < k) {
				k, ok = key, true
			}
		}
		head(si < len(sr), at(sr, si))
		head(ci < len(cr), at(cr, ci))
		head(pi < len(pr), atP(pr, pi))
		head(mi < len(ms), atM(ms, mi))
		head(qi < len(spr), atP(spr, qi))
		if !ok {
			return nil
		}
		var su ServerRequests
		for ; si < len(sr) && sr[si].key == k; si++ {
			su.addUser(&v.in.Servers[sr[si].src].Users[sr[si].idx])
		}
		var cu ClientRequests
		for ; ci < len(cr) && cr[ci].key == k; ci++ {
			cu.addUser(&v.in.Agents[cr[ci].src].Users[cr[ci].idx])
		}
		pools = pools[:0]
		for ; pi < len(pr) && pr[pi].key == k; pi++ {
			pools = append(pools, pr[pi].pool)
		}
		spools = spools[:0]
		for ; qi < len(spr) && spr[qi].key == k; qi++ {
			spools = append(spools, spr[qi].pool)
		}
		mj := mi
		for mj < len(ms) && ms[mj].user == k {
			mj++
		}
		for di < len(ds) && ds[di].user < k {
			di++
		}
		dj := di
		for dj < len(ds) && ds[dj].user == k {
			dj++
		}
		v.user(k, &su, &cu, userBounds{pools: pools, spools: spools, downs: ds[di:dj]}, ms[mi:mj])
		mi, di = mj, dj
	}
}

func at(r []uref, i int) uint64 {
	if i < len(r) {
		return r[i].key
	}
	return 0
}

func atP(r []pref, i int) uint64 {
	if i < len(r) {
		return r[i].key
	}
	return 0
}

func atM(r []missing, i int) uint64 {
	if i < len(r) {
		return r[i].user
	}
	return 0
}

// sortIfNeeded sorts refs unless they already are, as counters listed in
// uid order are.
func sortIfNeeded(r []uref) {
	if !slices.IsSortedFunc(r, compareURef) {
		slices.SortFunc(r, compareURef)
	}
}

func (q *ServerRequests) addUser(u *ledger.ServerUser) {
	q.Shake += u.Shake
	q.Got += u.Got
	q.None += u.None
	q.Overloaded += u.Overloaded
	q.Open += u.Open
}

func (q *ClientRequests) addUser(u *ledger.ClientUser) {
	q.Shake += u.Shake
	q.Got += u.Got
	q.None += u.None
	q.Overloaded += u.Overloaded
	q.Lost += u.Lost
	q.Pending += u.Pending
	q.Unanswered += u.Unanswered
	q.Skipped += u.Skipped
	q.OpenSent += u.OpenSent
	q.OpenAnswered += u.OpenAnswered
}

// user checks one user of one server, Jepsen-style: what the client
// acknowledged is a lower bound of what the server counted, what it
// attempted an upper bound, and the requests whose outcome it cannot know
// (lost, pending, after a crash checkpoint) are the only slack allowed:
//
//	acknowledged <= server SHAKEs <= sent + after-checkpoint
//	received(r) <= server results(r), for got, none and overloaded
//	sum of server results beyond received <= lost + pending + after-checkpoint
//	grants and ENVELOPEs never received <= lost + pending + after-checkpoint
//	shares never received <= OPENs unanswered + after-checkpoint
//	OPENs answered <= server OPENs <= OPENs sent + after-checkpoint
//
// after-checkpoint is drawn from the agents' UnknownShakes bounds, only as
// much as this user needs. A server that crashed may count less than it
// received, by what its counters missed between their last checkpoint and
// the crash (its UnknownCounts bounds, drawn alike): every lower bound
// above then holds for the server's counters plus that draw.
//
// An ENVELOPE the client never received (written, or due to a recipient
// the server found gone) is excused by a loss of the recipient's
// connection at or after it, which the agent journaled: the reset could
// have swallowed it. With no such loss around it, it is a discrepancy.
func (v *verifier) user(k uint64, su *ServerRequests, cu *ClientRequests, b userBounds, ms []missing) {
	pools := b.pools
	srv, uid := keySrv(k), keyLow(k)
	sum := &v.rep.Servers[srv]
	sum.Client.Requests.add(cu)
	un := &v.rep.Unknown
	un.Lost += cu.Lost
	un.Pending += cu.Pending
	un.Unanswered += cu.Unanswered
	openUnanswered := sub(cu.OpenSent, cu.OpenAnswered)
	un.OpensUnanswered += openUnanswered
	if !v.admin[srv] {
		return
	}
	counted := !v.in.Servers[srv].CountersLost
	q := &sum.Server.Requests
	q.Shake += su.Shake
	q.Got += su.Got
	q.None += su.None
	q.Overloaded += su.Overloaded
	q.Open += su.Open

	ms = v.excuseDown(ms, pools)
	ms = v.excuseReset(ms, b.downs)
	var mg, mn, mo uint64
	for i := range ms {
		switch ms[i].what {
		case missGrant:
			mg++
		case missNotify, missRecipient:
			mn++
		case missOpen:
			mo++
		}
	}
	lp := cu.Lost + cu.Pending
	acked := cu.Got + cu.None + cu.Overloaded
	exc := [3]int64{diff(su.Got, cu.Got), diff(su.None, cu.None), diff(su.Overloaded, cu.Overloaded)}
	var beyond uint64
	negative := -1
	for i, e := range exc {
		if e > 0 {
			beyond += uint64(e)
		} else if e < 0 && negative < 0 {
			negative = i
		}
	}
	if !counted {
		// Only the journal's events are settled against the clients'.
		beyond, negative = 0, -1
	}
	need := max(0, diff(max(beyond, mg), lp), diff(mn, lp), diff(mo, openUnanswered))
	if counted {
		need = max(need, diff(su.Shake, cu.Shake), diff(su.Open, cu.OpenSent))
	}
	x := v.draw(pools, uint64(need))
	un.AfterCheckpointUsed += x
	slack := lp + x
	name := v.name(srv)

	// What the server's counters missed in a crash window, if anything.
	var short uint64 // results the client received beyond the server's count
	for _, e := range exc {
		if e < 0 {
			short += uint64(-e)
		}
	}
	var y uint64
	if counted && len(b.spools) > 0 {
		y = v.drawServer(b.spools, uint64(max(0, diff(acked, su.Shake), int64(short), diff(cu.OpenAnswered, su.Open))))
		un.ServerCountsUsed += y
		if short <= y {
			negative = -1
		}
	}

	switch {
	case !counted:
		// The request checks are listed as skipped.
	case su.Shake+y < acked || su.Shake > cu.Shake+x:
		v.disc.add(Discrepancy{Kind: KindShakeCount, Server: name, UID: ptr(uid),
			ServerValue: int64(su.Shake), ClientValue: int64(cu.Shake),
			Detail: fmt.Sprintf("server received %d SHAKEs; client sent %d, %d answered, %d after its checkpoint, %d in the server's crash window", su.Shake, cu.Shake, acked, x, y)})
	default:
		un.ShakesUnacknowledged += sub(su.Shake, acked)
	}
	switch {
	case !counted:
	case negative >= 0 || beyond > slack:
		r := negative
		if r < 0 {
			for i, e := range exc {
				if e > 0 {
					r = i
					break
				}
			}
		}
		sv := [3]uint64{su.Got, su.None, su.Overloaded}
		cv := [3]uint64{cu.Got, cu.None, cu.Overloaded}
		v.disc.add(Discrepancy{Kind: KindShakeResults, Server: name, UID: ptr(uid),
			ServerValue: int64(sv[r]), ClientValue: int64(cv[r]),
			Detail: fmt.Sprintf("SHAKE_RESP sent/received: got %d/%d, none %d/%d, overloaded %d/%d; %d outcomes unknown",
				su.Got, cu.Got, su.None, cu.None, su.Overloaded, cu.Overloaded, slack)})
	default:
		un.ResultsUnreceived += beyond
	}
	if counted && (su.Open+y < cu.OpenAnswered || su.Open > cu.OpenSent+x) {
		v.disc.add(Discrepancy{Kind: KindOpenCount, Server: name, UID: ptr(uid),
			ServerValue: int64(su.Open), ClientValue: int64(cu.OpenSent),
			Detail: fmt.Sprintf("server received %d OPENs; client sent %d, %d answered, %d after its checkpoint", su.Open, cu.OpenSent, cu.OpenAnswered, x)})
	}

	// ms is sorted by kind then time: the newest events are the ones a
	// closing connection loses, so the budget excuses from the end.
	grants, rest := ms[:mg], ms[mg:]
	notes, opens := rest[:mn], rest[mn:]
	for i := range v.settle(grants, slack) {
		m := &grants[i]
		v.disc.add(Discrepancy{Kind: KindGrantMissingClient, Server: name, Env: ptr(m.env), UID: ptr(uid),
			ServerValue: int64(m.amount),
			Detail:      fmt.Sprintf("granted %d cents; uid %d never received it (%d grants missing, %d outcomes unknown)", m.amount, uid, mg, slack)})
	}
	for _, m := range grants[sub(mg, slack):] {
		un.GrantsUnreceived.add(m.amount)
	}
	for i := range v.settle(notes, slack) {
		m := &notes[i]
		d := Discrepancy{Kind: KindNotifyMissingClient, Server: name, Env: ptr(m.env), UID: ptr(uid), ServerValue: 1,
			Detail: fmt.Sprintf("ENVELOPE written to uid %d, never received (%d missing, %d outcomes unknown)", uid, mn, slack)}
		if m.what == missRecipient {
			d.Kind, d.ServerValue = KindRecipientNotNotified, 0
			d.Detail = fmt.Sprintf("uid %d is a recipient; no ENVELOPE was written to it or received (%d missing, %d outcomes unknown)", uid, mn, slack)
		}
		v.disc.add(d)
	}
	for _, m := range notes[sub(mn, slack):] {
		if m.what == missRecipient {
			un.RecipientsNotNotified++
		} else {
			un.NotificationsUnreceived++
		}
	}
	oslack := openUnanswered + x
	for i := range v.settle(opens, oslack) {
		m := &opens[i]
		v.disc.add(Discrepancy{Kind: KindOpenMissingClient, Server: name, Env: ptr(m.env), UID: ptr(uid),
			ServerValue: int64(m.amount),
			Detail:      fmt.Sprintf("paid %d cents; uid %d never received the share (%d missing, %d OPENs unanswered)", m.amount, uid, mo, oslack)})
	}
	for _, m := range opens[sub(mo, oslack):] {
		un.OpensUnreceived.add(m.amount)
	}
}

// excuseDown drops from ms the recipients no ENVELOPE reached whose send
// falls in the span of one of the user's after-checkpoint bounds: the
// agent holding the user was down then. They are counted in
// Unknown.RecipientsNotNotified. ms keeps its order.
func (v *verifier) excuseDown(ms []missing, pools []int32) []missing {
	down := func(t int64) bool {
		for _, p := range pools {
			if sp := v.poolSpan[p]; sp[1] > 0 && t >= sp[0] && t <= sp[1] {
				return true
			}
		}
		return false
	}
	out := ms[:0]
	for _, m := range ms {
		if m.what == missRecipient && down(m.t) {
			v.rep.Unknown.RecipientsNotNotified++
			continue
		}
		out = append(out, m)
	}
	return out
}

// userBounds is what may excuse one user's events: the agents'
// after-checkpoint bounds it may draw on, the servers' crash-window
// bounds, and its connection losses (sorted by time).
type userBounds struct {
	pools, spools []int32
	downs         []down
}

// excuseReset drops from ms the ENVELOPEs the client never received
// (written, or due to a recipient gone) that a loss of the user's
// connection could have swallowed, and counts them in
// Unknown.NotificationsLostOnReset. Such a loss is one the agent journaled
// at or after the ENVELOPE (less ResetSlack). Delivery is at least once,
// so a login after the loss brings the ENVELOPE again: the excuse holds
// only while no login followed the last loss, or the last login is too
// recent (within ResetSlack of the end of the ledgers) for its ENVELOPEs
// to have arrived. A login that long preceded the end with the ENVELOPE
// still missing is a discrepancy, as is a missing ENVELOPE with no loss
// around it. evs is the user's connection events by time; ms keeps its
// order.
func (v *verifier) excuseReset(ms []missing, evs []down) []missing {
	if len(evs) == 0 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if (m.what == missNotify || m.what == missRecipient) && v.lostOnReset(m.t, evs) {
			v.rep.Unknown.NotificationsLostOnReset++
			continue
		}
		out = append(out, m)
	}
	return out
}

// lostOnReset says whether an ENVELOPE of time t could be lost to the
// user's resets evs, as excuseReset says.
func (v *verifier) lostOnReset(t int64, evs []down) bool {
	lost, lastLogin := false, int64(-1)
	for _, e := range evs {
		switch {
		case e.t < t-ResetSlack:
		case !e.login:
			lost, lastLogin = true, -1
		case lost:
			lastLogin = e.t
		}
	}
	return lost && (lastLogin < 0 || lastLogin >= v.lastT-ResetSlack)
}

// drawServer takes up to need from the user's server crash-window bounds.
func (v *verifier) drawServer(pools []int32, need uint64) uint64 {
	var got uint64
	for _, p := range pools {
		if got == need {
			break
		}
		take := min(v.spoolLeft[p], need-got)
		v.spoolLeft[p] -= take
		got += take
	}
	return got
}

// settle returns how many of the oldest events exceed the budget.
func (v *verifier) settle(ms []missing, budget uint64) int {
	return int(sub(uint64(len(ms)), budget))
}

// draw takes up to need from the user's after-checkpoint bounds, in order.
func (v *verifier) draw(pools []int32, need uint64) uint64 {
	var got uint64
	for _, p := range pools {
		if got == need {
			break
		}
		take := min(v.poolLeft[p], need-got)
		v.poolLeft[p] -= take
		got += take
	}
	return got
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func diff(a, b uint64) int64 { return int64(a) - int64(b) }
