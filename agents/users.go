package agents

import (
	"cmp"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/hbctl/hbctl/coordinator/schedule"
	"github.com/hbctl/hbctl/server/ledger"
)

// blockLen is the run of consecutive uids one loop owns: blocks of users
// are dealt to the loops round-robin, so the split is even, stable when
// the user set changes, and each loop's owned ranges stay few.
const blockLen = 64

// normalize sorts ranges and merges overlapping or touching ones.
func normalize(rs []schedule.Range) []schedule.Range {
	out := make([]schedule.Range, 0, len(rs))
	for _, r := range rs {
		if r.Lo < r.Hi {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b schedule.Range) int { return cmp.Compare(a.Lo, b.Lo) })
	m := out[:0]
	for _, r := range out {
		if n := len(m); n > 0 && r.Lo <= m[n-1].Hi {
			m[n-1].Hi = max(m[n-1].Hi, r.Hi)
			continue
		}
		m = append(m, r)
	}
	return m
}

func count(rs []schedule.Range) int {
	n := 0
	for _, r := range rs {
		n += int(r.Len())
	}
	return n
}

// split deals normalized ranges to n loops by blocks of blockLen uids.
func split(rs []schedule.Range, n int) [][]schedule.Range {
	out := make([][]schedule.Range, n)
	for _, r := range rs {
		for lo := uint64(r.Lo); lo < uint64(r.Hi); {
			hi := min((lo/blockLen+1)*blockLen, uint64(r.Hi))
			k := int(lo / blockLen % uint64(n))
			part := out[k]
			if m := len(part); m > 0 && uint64(part[m-1].Hi) == lo {
				part[m-1].Hi = uint32(hi)
			} else {
				part = append(part, schedule.Range{Lo: uint32(lo), Hi: uint32(hi)})
			}
			out[k] = part
			lo = hi
		}
	}
	return out
}

// setUsers makes the loop hold exactly the users in owned: users kept keep
// their connection, new ones are queued for a dial, dropped ones are
// disconnected and their counters handed back to the engine.
func (l *loop) setUsers(owned []schedule.Range, now int64) {
	old := l.conns
	conns := make([]conn, 0, count(owned))
	firsts := make([]int32, len(owned))
	j := 0
	for k, r := range owned {
		firsts[k] = int32(len(conns))
		for uid64 := uint64(r.Lo); uid64 < uint64(r.Hi); uid64++ {
			uid := uint32(uid64)
			for j < len(old) && old[j].uid < uid {
				l.drop(j, now)
				j++
			}
			if j < len(old) && old[j].uid == uid {
				conns = append(conns, old[j])
				j++
				continue
			}
			srv := int(uid64 % uint64(len(l.e.servers)))
			conns = append(conns, conn{uid: uid, fd: -1, srv: uint16(srv), u: l.e.takeCounters(uid, l.e.servers[srv].addr)})
		}
	}
	for ; j < len(old); j++ {
		l.drop(j, now)
	}
	l.conns = conns
	l.owned, l.firsts = owned, firsts
	// Re-pointing a socket below reports it again if it is readable.
	l.again = l.again[:0]
	l.cgen++
	l.requeueExpiries()
	l.dials.Clear()
	l.dialWake = 0
	for i := range l.conns {
		c := &l.conns[i]
		switch {
		case c.state == stIdle:
			l.queueDial(i, max(c.retryAt, now))
		case c.fd >= 0:
			// Its index changed: re-point its epoll registration.
			ev := unix.EpollEvent{Events: connEvents, Fd: int32(i), Pad: int32(c.gen)}
			if c.state == stConnecting {
				ev.Events |= unix.EPOLLOUT
			}
			if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
				l.closeConn(i, now, whyClosed)
			}
		}
	}
	l.pc.reown(owned, now)
}

// requeueExpiries rebuilds the timeout queue, which names conns by index,
// after the conns were re-indexed.
func (l *loop) requeueExpiries() {
	l.expiries.clear()
	l.lastAt = 0
	var q []expiry
	for i := range l.conns {
		c := &l.conns[i]
		for k := c.pexp; k < c.plen; k++ {
			q = append(q, expiry{at: c.pending[(int(c.phead)+int(k))%maxPendingCap], idx: int32(i), gen: c.gen})
		}
	}
	slices.SortFunc(q, func(a, b expiry) int { return cmp.Compare(a.at, b.at) })
	for _, x := range q {
		l.expiries.push(x)
		l.lastAt = x.at
	}
}

// drop disconnects old conn j (in l.conns, not yet replaced) for good.
func (l *loop) drop(j int, now int64) {
	l.closeConn(j, now, whyDropped)
	l.e.retire(l.conns[j].counters())
}

// disconnect closes every connection and stops firing.
func (l *loop) disconnect(now int64) {
	for i := range l.conns {
		l.drop(i, now)
	}
	l.conns = nil
	l.owned, l.firsts = nil, nil
	l.again = l.again[:0]
	l.cgen++
	l.expiries.clear()
	l.lastAt = 0
	l.dials.Clear()
	l.dialWake = 0
	l.opensDue.Clear()
	clear(l.opens)
	l.pc.stop()
}

// users appends the loop's users' counters to out.
func (l *loop) users(out []ledger.ClientUser) []ledger.ClientUser {
	for i := range l.conns {
		out = append(out, l.conns[i].counters())
	}
	return out
}
