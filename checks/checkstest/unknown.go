package checkstest

import (
	"cmp"
	"slices"

	"github.com/hbctl/hbctl/checks"
)

// LoseGrantOnClosedConnection: a user's connection closes while its SHAKE
// is pending; the server granted it an envelope, the client never got the
// SHAKE_RESP and counts the SHAKE lost. Verify must count the grant in
// Unknown.GrantsUnreceived and report no discrepancy; the Want returned
// is what it would report were the loss not excused.
func LoseGrantOnClosedConnection(in *checks.Input) (Want, error) {
	x := newIndex(in)
	for _, g := range x.soleGrants(true) {
		cu := x.clientUser(g.k.srv, g.k.uid)
		if cu == nil || cu.Got == 0 {
			continue
		}
		cu.Got--
		cu.Lost++
		x.remove(g.c)
		return Want{checks.KindGrantMissingClient, g.k.srv, ptr(g.k.env), ptr(g.k.uid)}, nil
	}
	return Want{}, ErrNoTarget
}

// LoseGrantsBeyondLost: as LoseGrantOnClosedConnection, but the client's
// journal also lacks a second, earlier grant its counters say it received.
// One lost SHAKE excuses one missing grant, the newest; Verify must report
// the other, which is the Want returned.
func LoseGrantsBeyondLost(in *checks.Input) (Want, error) {
	x := newIndex(in)
	per := map[ukey][]soleGrant{}
	var order []ukey
	for _, g := range x.soleGrants(true) {
		k := ukey{g.k.srv, g.k.uid}
		if per[k] == nil {
			order = append(order, k)
		}
		per[k] = append(per[k], g)
	}
	for _, k := range order {
		gs := per[k]
		cu := x.clientUser(k.srv, k.uid)
		if len(gs) < 2 || cu == nil || cu.Got < 2 {
			continue
		}
		gs = gs[:2]
		slices.SortFunc(gs, func(a, b soleGrant) int { return cmp.Compare(x.rec(a.s).T, x.rec(b.s).T) })
		cu.Got--
		cu.Lost++
		x.remove(gs[0].c, gs[1].c)
		return Want{checks.KindGrantMissingClient, k.srv, ptr(gs[0].k.env), ptr(k.uid)}, nil
	}
	return Want{}, ErrNoTarget
}

// CrashAfterCheckpoint: an agent was killed after its last counters
// checkpoint, during which users of one server each sent extra SHAKEs that
// the server answered with "none" and the agent's counters never counted.
// The restarted agent bounds them, all users together, by bound. It
// returns the server and the users, in uid order.
func CrashAfterCheckpoint(in *checks.Input, users, extra int, bound uint64) (string, []uint32, error) {
	x := newIndex(in)
	for ai := range in.Agents {
		a := &in.Agents[ai]
		var srv string
		var uids []uint32
		for i := range a.Users {
			cu := &a.Users[i]
			s := x.name(cu.Srv)
			if !x.admin(s) || !x.quiet(s, cu.UID) || (srv != "" && s != srv) || x.serverUser(s, cu.UID) == nil {
				continue
			}
			srv = s
			uids = append(uids, cu.UID)
			if len(uids) == users {
				break
			}
		}
		if len(uids) < users {
			continue
		}
		for _, uid := range uids {
			su := x.serverUser(srv, uid)
			su.Shake += uint64(extra)
			su.None += uint64(extra)
		}
		a.UnknownShakes = append(a.UnknownShakes, checks.UnknownShakes{Srv: srv, UIDs: slices.Clone(uids), Count: bound})
		slices.Sort(uids)
		return srv, uids, nil
	}
	return "", nil, ErrNoTarget
}
