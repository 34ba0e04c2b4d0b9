package checks

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hbctl/hbctl/server/ledger"
)

// Row kinds, in the order rows of one envelope sort: server rows first.
const (
	rIssue uint8 = iota
	rGrant
	rSend
	rNotify
	rOpen
	cGrant
	cNotify
	cOpen
	nRowKinds
)

// row is one journal record reduced to what the checks need: 40 bytes
// instead of a ledger.Record with its strings and slices, so that the
// records of a large run sort in a few hundred milliseconds.
type row struct {
	key    uint64 // server<<32 | envelope id
	t      int64
	uid    uint32
	amount uint32
	to     int32 // offset of the recipient list in verifier.arena
	agent  int32 // agent index of a client row, -1 for a server row
	nTo    uint16
	kind   uint8
}

func envKey(srv int, env uint32) uint64  { return uint64(srv)<<32 | uint64(env) }
func userKey(srv int, uid uint32) uint64 { return uint64(srv)<<32 | uint64(uid) }
func keySrv(k uint64) int                { return int(k >> 32) }
func keyLow(k uint64) uint32             { return uint32(k) }

func compareRow(a, b row) int {
	return cmp.Or(
		cmp.Compare(a.key, b.key),
		cmp.Compare(a.kind, b.kind),
		cmp.Compare(a.uid, b.uid),
		cmp.Compare(a.t, b.t),
		cmp.Compare(a.agent, b.agent),
	)
}

// recipients is the recipient list of a send or notify row.
func (v *verifier) recipients(r *row) []uint32 {
	return v.arena[r.to : r.to+int32(r.nTo)]
}

// loadRecords turns every journal into rows, sorted by envelope, and sums
// the record totals of each server summary.
func (v *verifier) loadRecords() error {
	n := 0
	for i := range v.in.Servers {
		if v.admin[i] {
			n += len(v.in.Servers[i].Records)
		}
	}
	for i := range v.in.Agents {
		n += len(v.in.Agents[i].Records)
	}
	v.rows = make([]row, 0, n)
	for si := range v.in.Servers {
		s := &v.in.Servers[si]
		if !v.admin[si] {
			continue
		}
		side := &v.rep.Servers[si].Server
		if s.Stats != nil {
			side.InPools = Amount{Count: uint64(max(s.Stats.Pool, 0)), Cents: uint64(max(s.Stats.PoolAmount, 0))}
		}
		for ri := range s.Records {
			rec := &s.Records[ri]
			r := row{key: envKey(si, rec.Env), t: rec.T, uid: rec.UID, amount: rec.Amount, agent: -1}
			switch rec.Ev {
			case ledger.EvIssue:
				r.kind = rIssue
				side.Issued.add(rec.Amount)
			case ledger.EvGrant:
				r.kind = rGrant
				side.Granted.add(rec.Amount)
			case ledger.EvSend:
				r.kind = rSend
				v.setTo(&r, rec.To)
				side.Sent.add(rec.Amount)
			case ledger.EvNotify:
				r.kind = rNotify
				side.Notified++
			case ledger.EvOpen:
				r.kind = rOpen
				side.Opened.add(rec.Amount)
			case ledger.EvLogin, ledger.EvDown, ledger.EvRelease:
				continue // the server's view of its connections and releases
			default:
				return fmt.Errorf("server %s record %d: %w: %q", s.Name, ri, ErrBadRecord, rec.Ev)
			}
			v.rows = append(v.rows, r)
		}
	}
	for ai := range v.in.Agents {
		a := &v.in.Agents[ai]
		lastName, lastSrv := "\x00", 0 // records come in runs of one server
		for ri := range a.Records {
			rec := &a.Records[ri]
			if rec.Srv != lastName {
				si, err := v.server(rec.Srv)
				if err != nil {
					return fmt.Errorf("agent %s record %d: %w", a.Name, ri, err)
				}
				lastName, lastSrv = rec.Srv, si
			}
			si := lastSrv
			side := &v.rep.Servers[si].Client
			r := row{key: envKey(si, rec.Env), t: rec.T, uid: rec.UID, amount: rec.Amount, agent: int32(ai)}
			v.lastT = max(v.lastT, rec.T)
			switch rec.Ev {
			case ledger.EvGrant:
				r.kind = cGrant
				side.Received.add(rec.Amount)
			case ledger.EvNotify:
				r.kind = cNotify
				v.setTo(&r, rec.To)
				side.Notified++
			case ledger.EvOpen:
				if rec.Amount == 0 {
					continue // OPEN_RESP 0: nothing paid, nothing to reconcile
				}
				r.kind = cOpen
				side.Opened.add(rec.Amount)
			case ledger.EvDown:
				v.downs = append(v.downs, down{user: userKey(si, rec.UID), t: rec.T})
				v.rep.Unknown.ConnectionLosses++
				v.lastT = max(v.lastT, rec.T)
				continue
			case ledger.EvLogin:
				v.downs = append(v.downs, down{user: userKey(si, rec.UID), t: rec.T, login: true})
				v.rep.Unknown.Logins++
				v.lastT = max(v.lastT, rec.T)
				continue
			default:
				return fmt.Errorf("agent %s record %d: %w: %q", a.Name, ri, ErrBadRecord, rec.Ev)
			}
			v.rows = append(v.rows, r)
		}
	}
	slices.SortFunc(v.rows, compareRow)
	slices.SortFunc(v.downs, func(a, b down) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.t, b.t), cmp.Compare(b2i(a.login), b2i(b.login)))
	})
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// down is a connection event an agent journaled: a loss, or a login.
type down struct {
	user  uint64 // server<<32 | uid
	t     int64  // Unix ms
	login bool
}

// ResetSlack is how far before an ENVELOPE's time (its send or its
// notify record) a recipient's connection loss still excuses it: the
// server may pick a recipient, or write to a connection, that the client
// already saw reset, and the two clocks differ by a little.
const ResetSlack = 2000 // ms

func (v *verifier) setTo(r *row, to []uint32) {
	r.to = int32(len(v.arena))
	r.nTo = uint16(min(len(to), 0xffff))
	v.arena = append(v.arena, to[:r.nTo]...)
}

// envelopes walks the rows one envelope at a time.
func (v *verifier) envelopes() {
	rows := v.rows
	var g group
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].key == rows[i].key {
			j++
		}
		g.split(rows[i:j])
		srv, env := keySrv(rows[i].key), keyLow(rows[i].key)
		if n := len(g.k[rIssue]) + len(g.k[rSend]); n > 1 {
			v.disc.add(Discrepancy{Kind: KindDuplicateID, Server: v.name(srv), Env: ptr(env), ServerValue: int64(n),
				Detail: fmt.Sprintf("issued %d and sent %d times; ids are never reused", len(g.k[rIssue]), len(g.k[rSend]))})
		}
		if v.admin[srv] {
			v.shakeEnvelope(srv, env, &g)
			v.sentEnvelope(srv, env, &g)
		} else {
			v.shakeEnvelopeClientOnly(srv, env, &g)
			v.sentEnvelopeClientOnly(srv, env, &g)
		}
		i = j
	}
	v.poolBalance()
}

// group is the rows of one envelope split by kind; each part is sorted by
// uid, then time.
type group struct {
	k [nRowKinds][]row
}

func (g *group) split(rows []row) {
	for k := range g.k {
		g.k[k] = nil
	}
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].kind == rows[i].kind {
			j++
		}
		g.k[rows[i].kind] = rows[i:j]
		i = j
	}
}

// latest is the row with the largest time (then uid): the second of two
// grants is the one reported.
func latest(rs []row) *row {
	best := &rs[0]
	for i := range rs {
		r := &rs[i]
		if r.t > best.t || (r.t == best.t && r.uid > best.uid) {
			best = r
		}
	}
	return best
}

// missing is a server event a client never saw: excused per user up to
// that user's unknown outcomes, a discrepancy beyond.
type missing struct {
	user   uint64 // server<<32 | uid
	t      int64
	env    uint32
	amount uint32
	what   uint8 // missGrant, missNotify, missRecipient, missOpen
}

const (
	missGrant     uint8 = iota // a grant the client never received
	missNotify                 // an ENVELOPE written the client never received
	missRecipient              // a recipient no ENVELOPE was written to
	missOpen                   // a share paid the client never received
)

func compareMissing(a, b missing) int {
	return cmp.Or(
		cmp.Compare(a.user, b.user),
		cmp.Compare(a.what, b.what),
		cmp.Compare(a.t, b.t),
		cmp.Compare(a.env, b.env),
	)
}
