package checks

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Input errors: Verify returns them (wrapped) when the input cannot be
// read unambiguously, rather than guess and report nonsense.
var (
	ErrDuplicateServer = errors.New("checks: server listed twice")
	ErrUnknownServer   = errors.New("checks: record names a server not in the input")
	ErrAmbiguousServer = errors.New("checks: record without srv in a run of several servers")
	ErrBadRecord       = errors.New("checks: record of a kind its side never writes")
)

// DefaultMaxDiscrepancies bounds Report.Discrepancies so that a run gone
// wholesale wrong still gives a report of sane size; DiscrepancyCounts
// always counts them all.
const DefaultMaxDiscrepancies = 10000

// Option tunes Verify.
type Option func(*options)

type options struct {
	maxDiscrepancies int
}

// WithMaxDiscrepancies keeps at most n discrepancies in the report (n <= 0:
// all of them).
func WithMaxDiscrepancies(n int) Option {
	return func(o *options) { o.maxDiscrepancies = n }
}

// Verify reconciles the ledgers of a run. The error is only for input it
// cannot interpret; faults in the ledgers are the report's discrepancies.
// Verify does not modify in.
func Verify(in *Input, opts ...Option) (*Report, error) {
	o := options{maxDiscrepancies: DefaultMaxDiscrepancies}
	for _, opt := range opts {
		opt(&o)
	}
	v, err := newVerifier(in, o)
	if err != nil {
		return nil, err
	}
	if err := v.loadRecords(); err != nil {
		return nil, err
	}
	v.envelopes()
	if err := v.users(); err != nil {
		return nil, err
	}
	return v.finish(), nil
}

// verifier holds one Verify call's state. Servers are numbered by their
// position in Input.Servers; every key packs that number in its high 32
// bits, with an envelope id or a uid below.
type verifier struct {
	in      *Input
	srvIdx  map[string]int
	admin   []bool // server i has an admin API
	rep     *Report
	disc    collector
	rows    []row
	arena   []uint32  // recipient lists of send and notify rows
	missing []missing // server events clients never saw, settled per user
	pools   []poolTally
	// poolLeft is what is left of each UnknownShakes bound (numbered
	// across agents) while users draw on it.
	poolLeft []uint64
	// poolSpan is each bound's span [from, to] in Unix ms; zero when the
	// bound gives none.
	poolSpan [][2]int64
	// spoolLeft is what is left of each server's UnknownCounts bound
	// (numbered across servers).
	spoolLeft []uint64
	// downs is every connection loss and login the agents journaled, by
	// user then time; lastT is the latest time of any agent record, about
	// when the ledgers were taken.
	downs []down
	lastT int64

	scratchS, scratchC   []row    // reused by shakeEnvelope
	flagged, flaggedOpen []uint32 // reused by sentEnvelope
}

func newVerifier(in *Input, o options) (*verifier, error) {
	v := &verifier{
		in:     in,
		srvIdx: make(map[string]int, len(in.Servers)),
		admin:  make([]bool, len(in.Servers)),
		rep: &Report{
			Servers:           make([]ServerSummary, len(in.Servers)),
			DiscrepancyCounts: map[Kind]uint64{},
			Discrepancies:     []Discrepancy{},
			Skipped:           []Skipped{},
		},
	}
	v.disc = collector{max: o.maxDiscrepancies, rep: v.rep}
	for i := range in.Servers {
		s := &in.Servers[i]
		if _, dup := v.srvIdx[s.Name]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateServer, s.Name)
		}
		v.srvIdx[s.Name] = i
		v.admin[i] = !s.ClientOnly
		sum := &v.rep.Servers[i]
		sum.Name, sum.ClientOnly = s.Name, s.ClientOnly
		if !s.ClientOnly && s.Stats != nil {
			st := *s.Stats
			sum.Stats = &st
		}
		v.skip(i)
	}
	return v, nil
}

// skip lists what cannot be checked for server i.
func (v *verifier) skip(i int) {
	s := &v.in.Servers[i]
	add := func(c Check, reason string) {
		v.rep.Skipped = append(v.rep.Skipped, Skipped{Server: s.Name, Check: c, Reason: reason})
	}
	if s.ClientOnly {
		const why = "server has no admin API: only the clients' ledgers were checked"
		for _, c := range []Check{CheckPoolBalance, CheckGrantsMatch, CheckGrantsIssued,
			CheckRecipients, CheckOpensMatch, CheckShakeRequests, CheckOpenRequests} {
			add(c, why)
		}
		return
	}
	if s.Stats == nil {
		add(CheckPoolBalance, "server pool stats missing")
	}
	if s.CountersLost {
		const why = "server restarted with no counters checkpoint to resume from: its per-user counters are unknown"
		add(CheckShakeRequests, why)
		add(CheckOpenRequests, why)
	}
}

// server resolves an agent record's "srv".
func (v *verifier) server(name string) (int, error) {
	if name == "" {
		if len(v.in.Servers) == 1 {
			return 0, nil
		}
		return 0, ErrAmbiguousServer
	}
	i, ok := v.srvIdx[name]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	return i, nil
}

func (v *verifier) name(srv int) string { return v.in.Servers[srv].Name }

func (v *verifier) agentName(a int32) string {
	if a < 0 {
		return ""
	}
	return v.in.Agents[a].Name
}

// finish settles the verdict, the totals and the order of the report.
func (v *verifier) finish() *Report {
	r := v.rep
	for i := range r.Servers {
		s := &r.Servers[i]
		if !s.ClientOnly {
			r.Totals.Server.add(&s.Server)
		}
		r.Totals.Client.add(&s.Client)
	}
	slices.SortFunc(r.Discrepancies, compareDiscrepancy)
	switch {
	case len(r.DiscrepancyCounts) > 0:
		r.Verdict = VerdictDiscrepancies
	case len(r.Skipped) > 0:
		r.Verdict = VerdictIncomplete
	default:
		r.Verdict = VerdictReconciled
	}
	return r
}

func (t *ServerSide) add(s *ServerSide) {
	t.Issued.plus(s.Issued)
	t.Granted.plus(s.Granted)
	t.InPools.plus(s.InPools)
	t.Sent.plus(s.Sent)
	t.Notified += s.Notified
	t.Opened.plus(s.Opened)
	q, p := &t.Requests, &s.Requests
	q.Shake += p.Shake
	q.Got += p.Got
	q.None += p.None
	q.Overloaded += p.Overloaded
	q.Open += p.Open
}

func (t *ClientSide) add(s *ClientSide) {
	t.Received.plus(s.Received)
	t.Notified += s.Notified
	t.Opened.plus(s.Opened)
	t.Requests.add(&s.Requests)
}

func (q *ClientRequests) add(p *ClientRequests) {
	q.Shake += p.Shake
	q.Got += p.Got
	q.None += p.None
	q.Overloaded += p.Overloaded
	q.Lost += p.Lost
	q.Pending += p.Pending
	q.Unanswered += p.Unanswered
	q.Skipped += p.Skipped
	q.OpenSent += p.OpenSent
	q.OpenAnswered += p.OpenAnswered
}

func compareDiscrepancy(a, b Discrepancy) int {
	return cmp.Or(
		cmp.Compare(a.Server, b.Server),
		compareOpt(a.Env, b.Env),
		compareOpt(a.UID, b.UID),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Agent, b.Agent),
	)
}

// compareOpt orders absent before present.
func compareOpt(a, b *uint32) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

// collector counts every discrepancy and keeps the first max.
type collector struct {
	max int
	rep *Report
}

func (c *collector) add(d Discrepancy) {
	c.rep.DiscrepancyCounts[d.Kind]++
	if c.max > 0 && len(c.rep.Discrepancies) >= c.max {
		c.rep.Truncated++
		return
	}
	c.rep.Discrepancies = append(c.rep.Discrepancies, d)
}

func ptr(v uint32) *uint32 { return &v }
