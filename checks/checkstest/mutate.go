package checkstest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/server/ledger"
)

// ErrNoTarget is returned by a mutation when the input holds no record or
// user it can inject its fault into without other side effects.
var ErrNoTarget = errors.New("checkstest: nothing suitable to mutate")

// Want is the discrepancy a mutation must make Verify report: its kind and
// ids (nil Env or UID: the discrepancy has none).
type Want struct {
	Kind   checks.Kind
	Server string
	Env    *uint32
	UID    *uint32
}

// Match says whether d is the wanted discrepancy.
func (w Want) Match(d *checks.Discrepancy) bool {
	return d.Kind == w.Kind && d.Server == w.Server && eqOpt(d.Env, w.Env) && eqOpt(d.UID, w.UID)
}

func (w Want) String() string {
	return fmt.Sprintf("%s server=%s env=%s uid=%s", w.Kind, w.Server, optString(w.Env), optString(w.UID))
}

func eqOpt(a, b *uint32) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func optString(p *uint32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func ptr(v uint32) *uint32 { return &v }

// Mutation injects one fault into an Input, in place.
type Mutation struct {
	Name  string
	Apply func(*checks.Input) (Want, error)
	// ClientProvable: the fault shows in the agents' ledgers alone, so it
	// is still caught, as the same Want, when the server has no admin API.
	ClientProvable bool
}

// Mutations is every single-fault mutation, each caught by exactly one
// discrepancy.
func Mutations() []Mutation {
	return []Mutation{
		{Name: "grant lost on the client side", Apply: LoseClientGrant},
		{Name: "grant lost on the server side", Apply: LoseServerGrant},
		{Name: "grant amount off by one cent", Apply: GrantAmountOffByOne},
		{Name: "grant to the wrong uid", Apply: GrantToWrongUID},
		{Name: "envelope granted twice", Apply: GrantTwice, ClientProvable: true},
		{Name: "envelope id never issued", Apply: GrantNeverIssued},
		{Name: "shares above the envelope", Apply: SharesAboveEnvelope, ClientProvable: true},
		{Name: "notification to a non-recipient", Apply: NotifyNonRecipient, ClientProvable: true},
		{Name: "recipient never notified", Apply: RecipientNeverNotified},
		{Name: "notification lost on the client side", Apply: LoseClientNotify},
		{Name: "duplicate open paid twice", Apply: DuplicateOpen},
		{Name: "share off by one cent", Apply: ShareOffByOne},
		{Name: "share lost on the client side", Apply: LoseClientOpen},
		{Name: "SHAKE count off by one", Apply: ShakeCountOffByOne},
		{Name: "SHAKE_RESP none changed to got", Apply: ResultNoneToGot},
	}
}

// LoseClientGrant removes a grant from an agent's journal: the server
// granted an envelope that no client received, on a user with no unknown
// outcome to excuse it.
func LoseClientGrant(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(true)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	x.remove(g.c)
	return Want{checks.KindGrantMissingClient, g.k.srv, ptr(g.k.env), ptr(g.k.uid)}, nil
}

// LoseServerGrant removes a grant from a server's journal: a client holds
// an envelope the server issued but never journaled as granted.
func LoseServerGrant(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(false)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	x.remove(g.s)
	return Want{checks.KindGrantMissingServer, g.k.srv, ptr(g.k.env), ptr(g.k.uid)}, nil
}

// GrantAmountOffByOne adds a cent to a grant a client received.
func GrantAmountOffByOne(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(false)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	x.rec(g.c).Amount++
	return Want{checks.KindGrantAmount, g.k.srv, ptr(g.k.env), ptr(g.k.uid)}, nil
}

// GrantToWrongUID has a client receive a grant as another uid than the
// one the server granted it to.
func GrantToWrongUID(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(false)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	other, ok := x.otherUser(g.k.srv, []uint32{g.k.uid})
	if !ok {
		return Want{}, ErrNoTarget
	}
	x.rec(g.c).UID = other
	return Want{checks.KindGrantUID, g.k.srv, ptr(g.k.env), ptr(other)}, nil
}

// GrantTwice grants an envelope a second time, to another user, and has
// that user's client receive it: both journals agree, the envelope is
// spent twice.
func GrantTwice(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(false)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	other, ok := x.otherUser(g.k.srv, []uint32{g.k.uid})
	if !ok {
		return Want{}, ErrNoTarget
	}
	t := x.lastT() + 1
	s := &in.Servers[g.s.srv]
	s.Records = append(s.Records, ledger.Record{Ev: ledger.EvGrant, Env: g.k.env, UID: other, Amount: g.amount, T: t})
	a := &in.Agents[x.agentOf(g.k.srv, other)]
	a.Records = append(a.Records, ledger.Record{Ev: ledger.EvGrant, Env: g.k.env, UID: other, Amount: g.amount, T: t, Srv: g.k.srv})
	return Want{checks.KindGrantedTwice, g.k.srv, ptr(g.k.env), ptr(other)}, nil
}

// GrantNeverIssued has a client receive an envelope id its server never
// used.
func GrantNeverIssued(in *checks.Input) (Want, error) {
	x := newIndex(in)
	gs := x.soleGrants(false)
	if len(gs) == 0 {
		return Want{}, ErrNoTarget
	}
	g := gs[0]
	var top uint32
	for _, r := range in.Servers[g.s.srv].Records {
		top = max(top, r.Env)
	}
	for ai := range in.Agents {
		for _, r := range in.Agents[ai].Records {
			if x.name(r.Srv) == g.k.srv {
				top = max(top, r.Env)
			}
		}
	}
	env := top + 1
	a := &in.Agents[g.c.agent]
	a.Records = append(a.Records, ledger.Record{Ev: ledger.EvGrant, Env: env, UID: g.k.uid, Amount: g.amount, T: x.lastT() + 1, Srv: g.k.srv})
	return Want{checks.KindGrantNotIssued, g.k.srv, ptr(env), ptr(g.k.uid)}, nil
}

// SharesAboveEnvelope adds a cent to one share of an envelope every
// recipient opened, on both sides: the shares now sum above its amount.
func SharesAboveEnvelope(in *checks.Input) (Want, error) {
	x := newIndex(in)
	ss := x.cleanSends()
	if len(ss) == 0 {
		return Want{}, ErrNoTarget
	}
	s := ss[0]
	k := k3{s.k.srv, s.k.env, s.to[0]}
	x.rec(x.s[ledger.EvOpen][k][0]).Amount++
	x.rec(x.c[ledger.EvOpen][k][0]).Amount++
	return Want{checks.KindSharesExceed, s.k.srv, ptr(s.k.env), nil}, nil
}

// NotifyNonRecipient pushes an envelope's ENVELOPE to a user who is not
// among its recipients, who receives it: both journals agree.
func NotifyNonRecipient(in *checks.Input) (Want, error) {
	x := newIndex(in)
	ss := x.cleanSends()
	if len(ss) == 0 {
		return Want{}, ErrNoTarget
	}
	s := ss[0]
	other, ok := x.otherUser(s.k.srv, s.to)
	if !ok {
		return Want{}, ErrNoTarget
	}
	t := x.lastT() + 1
	srv := &in.Servers[s.send.srv]
	srv.Records = append(srv.Records, ledger.Record{Ev: ledger.EvNotify, Env: s.k.env, UID: other, T: t})
	a := &in.Agents[x.agentOf(s.k.srv, other)]
	a.Records = append(a.Records, ledger.Record{Ev: ledger.EvNotify, Env: s.k.env, UID: other,
		To: slices.Clone(s.to), Amount: s.amount, T: t, Srv: s.k.srv})
	return Want{checks.KindNotifyNotRecipient, s.k.srv, ptr(s.k.env), ptr(other)}, nil
}

// RecipientNeverNotified erases every trace of one recipient's ENVELOPE:
// neither side journaled it, so the recipient never opened it either.
func RecipientNeverNotified(in *checks.Input) (Want, error) {
	x := newIndex(in)
	for _, s := range x.cleanSends() {
		for _, u := range s.to {
			if !x.quiet(s.k.srv, u) {
				continue
			}
			k := k3{s.k.srv, s.k.env, u}
			x.remove(x.s[ledger.EvNotify][k][0], x.c[ledger.EvNotify][k][0], x.s[ledger.EvOpen][k][0], x.c[ledger.EvOpen][k][0])
			if su := x.serverUser(s.k.srv, u); su != nil && su.Open > 0 {
				su.Open--
			}
			if cu := x.clientUser(s.k.srv, u); cu != nil && cu.OpenSent > 0 && cu.OpenAnswered > 0 {
				cu.OpenSent--
				cu.OpenAnswered--
			}
			return Want{checks.KindRecipientNotNotified, s.k.srv, ptr(s.k.env), ptr(u)}, nil
		}
	}
	return Want{}, ErrNoTarget
}

// LoseClientNotify removes an ENVELOPE from a recipient's journal.
func LoseClientNotify(in *checks.Input) (Want, error) {
	x := newIndex(in)
	for _, s := range x.cleanSends() {
		for _, u := range s.to {
			if x.quiet(s.k.srv, u) {
				x.remove(x.c[ledger.EvNotify][k3{s.k.srv, s.k.env, u}][0])
				return Want{checks.KindNotifyMissingClient, s.k.srv, ptr(s.k.env), ptr(u)}, nil
			}
		}
	}
	return Want{}, ErrNoTarget
}

// DuplicateOpen journals a second payment of one share on the server.
func DuplicateOpen(in *checks.Input) (Want, error) {
	x := newIndex(in)
	ss := x.cleanSends()
	if len(ss) == 0 {
		return Want{}, ErrNoTarget
	}
	s := ss[0]
	u := s.to[0]
	l := x.s[ledger.EvOpen][k3{s.k.srv, s.k.env, u}][0]
	dup := *x.rec(l)
	dup.T = x.lastT() + 1
	srv := &in.Servers[l.srv]
	srv.Records = append(srv.Records, dup)
	return Want{checks.KindPaidTwice, s.k.srv, ptr(s.k.env), ptr(u)}, nil
}

// ShareOffByOne adds a cent to a share a client received.
func ShareOffByOne(in *checks.Input) (Want, error) {
	x := newIndex(in)
	ss := x.cleanSends()
	if len(ss) == 0 {
		return Want{}, ErrNoTarget
	}
	s := ss[0]
	u := s.to[0]
	x.rec(x.c[ledger.EvOpen][k3{s.k.srv, s.k.env, u}][0]).Amount++
	return Want{checks.KindOpenAmount, s.k.srv, ptr(s.k.env), ptr(u)}, nil
}

// LoseClientOpen removes a share from a recipient's journal, on a user
// whose every OPEN was answered.
func LoseClientOpen(in *checks.Input) (Want, error) {
	x := newIndex(in)
	for _, s := range x.cleanSends() {
		for _, u := range s.to {
			if x.quiet(s.k.srv, u) {
				x.remove(x.c[ledger.EvOpen][k3{s.k.srv, s.k.env, u}][0])
				return Want{checks.KindOpenMissingClient, s.k.srv, ptr(s.k.env), ptr(u)}, nil
			}
		}
	}
	return Want{}, ErrNoTarget
}

// quietUser finds a user with no unknown outcome whose counters on both
// sides satisfy ok.
func quietUser(in *checks.Input, ok func(*ledger.ServerUser, *ledger.ClientUser) bool) (string, *ledger.ServerUser, *ledger.ClientUser, error) {
	x := newIndex(in)
	for ai := range in.Agents {
		us := in.Agents[ai].Users
		for i := range us {
			cu := &us[i]
			srv := x.name(cu.Srv)
			if !x.admin(srv) || !x.quiet(srv, cu.UID) {
				continue
			}
			if su := x.serverUser(srv, cu.UID); su != nil && ok(su, cu) {
				return srv, su, cu, nil
			}
		}
	}
	return "", nil, nil, ErrNoTarget
}

// ShakeCountOffByOne has a server count one SHAKE more than the user's
// client ever sent.
func ShakeCountOffByOne(in *checks.Input) (Want, error) {
	srv, su, _, err := quietUser(in, func(su *ledger.ServerUser, cu *ledger.ClientUser) bool { return su.Shake == cu.Shake })
	if err != nil {
		return Want{}, err
	}
	su.Shake++
	return Want{checks.KindShakeCount, srv, nil, ptr(su.UID)}, nil
}

// ResultNoneToGot has a client count a "none" answer as "got".
func ResultNoneToGot(in *checks.Input) (Want, error) {
	srv, _, cu, err := quietUser(in, func(su *ledger.ServerUser, cu *ledger.ClientUser) bool { return cu.None > 0 })
	if err != nil {
		return Want{}, err
	}
	cu.None--
	cu.Got++
	return Want{checks.KindShakeResults, srv, nil, ptr(cu.UID)}, nil
}
