package server

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbctl/hbctl/server/admin"
	"github.com/hbctl/hbctl/server/ledger"
	"github.com/hbctl/hbctl/server/wire"
)

// Defaults and bounds of a release.
const (
	DefaultMinAmount  = 10
	DefaultMaxAmount  = 309
	DefaultRecipients = 3
	MaxRate           = 1_000_000
	MaxAmount         = 100_000_000 // cents in one envelope
	MaxSendTotal      = 10_000_000
	// maxReleaseBatch bounds the envelopes journaled in one append when a
	// release falls behind its schedule.
	maxReleaseBatch = 1024
)

// ShakeRequest and SendRequest are the bodies of POST /v1/shake and
// /v1/send (server/admin).
type (
	ShakeRequest = admin.ShakeRequest
	SendRequest  = admin.SendRequest
)

// Errors of Shake and Send that callers test.
var (
	// ErrInvalid wraps a *FieldError: a request value out of range.
	ErrInvalid = errors.New("invalid request")
	// ErrBusy: a release of the same kind is still running. Releases are
	// not queued; wait for it to end (Stats().Releasing) and retry.
	ErrBusy = errors.New("a release of this kind is already running")
)

// FieldError names the request field that is out of range.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

func normalizeShake(r *ShakeRequest, idsLeft int) error {
	if r.Rate < 1 || r.Rate > MaxRate {
		return fieldErr("rate", "must be between 1 and %d per second, got %d", MaxRate, r.Rate)
	}
	if r.Total < 1 || r.Total > idsLeft {
		return fieldErr("total", "must be between 1 and %d (shake envelope ids left), got %d", idsLeft, r.Total)
	}
	return normalizeAmounts(&r.MinAmount, &r.MaxAmount, 1)
}

func normalizeSend(r *SendRequest) error {
	if r.Rate < 1 || r.Rate > MaxRate {
		return fieldErr("rate", "must be between 1 and %d per second, got %d", MaxRate, r.Rate)
	}
	if r.Total < 1 || r.Total > MaxSendTotal {
		return fieldErr("total", "must be between 1 and %d, got %d", MaxSendTotal, r.Total)
	}
	if r.Recipients == 0 {
		r.Recipients = DefaultRecipients
	}
	if r.Recipients < 1 || r.Recipients > wire.MaxRecipients {
		return fieldErr("recipients", "must be between 1 and %d, got %d", wire.MaxRecipients, r.Recipients)
	}
	return normalizeAmounts(&r.MinAmount, &r.MaxAmount, r.Recipients)
}

func normalizeAmounts(lo, hi *int, floor int) error {
	if *lo == 0 {
		*lo = DefaultMinAmount
	}
	if *hi == 0 {
		*hi = max(DefaultMaxAmount, *lo)
	}
	if *lo < 1 || *lo > MaxAmount {
		return fieldErr("min_amount", "must be between 1 and %d cents, got %d", MaxAmount, *lo)
	}
	if *hi < *lo || *hi > MaxAmount {
		return fieldErr("max_amount", "must be between min_amount (%d) and %d cents, got %d", *lo, MaxAmount, *hi)
	}
	if *hi < floor {
		return fieldErr("max_amount", "must be at least 1 cent per recipient (%d), got %d", floor, *hi)
	}
	return nil
}

// release runs the shake and send producers, one of each kind at a time.
type release struct {
	s *Server

	mu                  sync.Mutex // guards the fields below
	nextShake, nextSend uint32
	shaking, sending    bool
	rr                  int // next SET to receive a shake envelope

	shakeRNG, sendRNG *rand.Rand // owned by the running release of each kind

	sent, sentAmount atomic.Int64
}

func (r *release) init(s *Server) {
	r.s = s
	r.shakeRNG = newRNG(s.seed, 1)
	r.sendRNG = newRNG(s.seed, 2)
}

// toPool puts an issued envelope into the next SET's pool, counting it
// as issued unless replay already did.
func (r *release) toPool(e envelope, count bool) {
	r.mu.Lock()
	w := r.s.sets[r.rr%len(r.s.sets)]
	r.rr++
	r.mu.Unlock()
	w.mu.Lock()
	w.pool.push(e)
	if count {
		w.issued++
		w.issuedAmount += int64(e.amount)
	}
	w.mu.Unlock()
}

// Shake starts releasing shake envelopes (POST /v1/shake). It returns at
// once; ErrBusy if a shake release is running, a *FieldError (ErrInvalid)
// for a bad value.
func (s *Server) Shake(req ShakeRequest) error {
	r := &s.rel
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := normalizeShake(&req, int(SendIDBase-r.nextShake)); err != nil {
		return err
	}
	if r.shaking {
		return ErrBusy
	}
	if err := s.startProducer(); err != nil {
		return err
	}
	r.shaking = true
	s.log.Info("shake release started", "rate", req.Rate, "total", req.Total, "min_amount", req.MinAmount, "max_amount", req.MaxAmount)
	go r.runShake(req)
	return nil
}

// Send starts releasing sent envelopes (POST /v1/send), like Shake.
func (s *Server) Send(req SendRequest) error {
	r := &s.rel
	if err := normalizeSend(&req); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sending {
		return ErrBusy
	}
	if err := s.startProducer(); err != nil {
		return err
	}
	r.sending = true
	s.log.Info("send release started", "rate", req.Rate, "total", req.Total, "recipients", req.Recipients)
	go r.runSend(req)
	return nil
}

func (s *Server) startProducer() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.wg.Add(1)
	return nil
}

// pace waits until the given count of a release is due; false on Close.
// Due times come from the start and the rate, never from relative
// sleeps, so a slow journal append does not make the release drift.
func (r *release) pace(start time.Time, done, rate int) bool {
	next := start.Add(time.Duration(float64(done) / float64(rate) * float64(time.Second)))
	d := time.Until(next)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.s.quit:
		return false
	}
}

// due is how many of a release's envelopes are due by now.
func due(start time.Time, rate, total, done int) int {
	n := int(time.Since(start).Seconds()*float64(rate)) + 1
	return min(n, total, done+maxReleaseBatch)
}

func (r *release) runShake(req ShakeRequest) {
	s := r.s
	defer s.wg.Done()
	defer func() {
		r.mu.Lock()
		r.shaking = false
		r.mu.Unlock()
	}()
	rng := r.shakeRNG
	recs := make([]ledger.Record, 0, 16)
	start := time.Now()
	for done := 0; done < req.Total; {
		n := due(start, req.Rate, req.Total, done) - done
		recs = recs[:0]
		r.mu.Lock()
		for i := 0; i < n; i++ {
			amount := uint32(req.MinAmount + rng.IntN(req.MaxAmount-req.MinAmount+1))
			recs = append(recs, ledger.Record{Ev: ledger.EvIssue, Env: r.nextShake, Amount: amount, T: nowMS()})
			r.nextShake++
		}
		r.mu.Unlock()
		// Durable before grantable: a granted envelope is always issued.
		if err := s.j.Append(recs...); err != nil {
			s.log.Error("shake release stopped: journal failed", "err", err)
			return
		}
		for i := range recs {
			r.toPool(envelope{id: recs[i].Env, amount: recs[i].Amount}, true)
		}
		done += n
		if !r.pace(start, done, req.Rate) {
			return
		}
	}
	s.log.Info("shake release done", "total", req.Total, "in", time.Since(start).Round(time.Millisecond))
}

func (r *release) runSend(req SendRequest) {
	s := r.s
	defer s.wg.Done()
	defer func() {
		r.mu.Lock()
		r.sending = false
		r.mu.Unlock()
	}()
	rng := r.sendRNG
	recs := make([]ledger.Record, 0, 16)
	var to []uint32
	start := time.Now()
	for done := 0; done < req.Total; {
		n := due(start, req.Rate, req.Total, done) - done
		recs = recs[:0]
		for i := 0; i < n; i++ {
			to = s.pickRecipients(rng, req.Recipients, to[:0])
			if len(to) == 0 {
				break // nobody connected: try again on the next tick
			}
			amount := max(uint32(req.MinAmount+rng.IntN(req.MaxAmount-req.MinAmount+1)), uint32(len(to)))
			r.mu.Lock()
			id := r.nextSend
			r.nextSend++
			r.mu.Unlock()
			recs = append(recs, ledger.Record{Ev: ledger.EvSend, Env: id, Amount: amount, To: append([]uint32(nil), to...), T: nowMS()})
		}
		if len(recs) > 0 {
			if err := s.j.Append(recs...); err != nil {
				s.log.Error("send release stopped: journal failed", "err", err)
				return
			}
			for i := range recs {
				rec := &recs[i]
				s.sends.add(rec.Env, rec.Amount, rec.To)
				r.sent.Add(1)
				r.sentAmount.Add(int64(rec.Amount))
				for _, uid := range rec.To {
					w := s.sets[uid%uint32(len(s.sets))]
					if !w.loop.post(command{kind: cmdNotify, w: w, a: rec.Env, b: uid}) {
						return // closed
					}
				}
			}
		}
		done += len(recs)
		if len(recs) < n {
			// Too few users connected: look again shortly.
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				return
			}
			continue
		}
		if !r.pace(start, done, req.Rate) {
			return
		}
	}
	s.log.Info("send release done", "total", req.Total, "in", time.Since(start).Round(time.Millisecond))
}

// pickRecipients appends up to n distinct uids of connected users.
func (s *Server) pickRecipients(rng *rand.Rand, n int, to []uint32) []uint32 {
	sizes := make([]int, len(s.sets))
	total := 0
	for i, w := range s.sets {
		w.mu.Lock()
		sizes[i] = len(w.list)
		w.mu.Unlock()
		total += sizes[i]
	}
	n = min(n, total)
	for tries := 0; len(to) < n && tries < 8*n+16; tries++ {
		k := rng.IntN(total)
		i := 0
		for k >= sizes[i] {
			k -= sizes[i]
			i++
		}
		w := s.sets[i]
		w.mu.Lock()
		if len(w.list) == 0 {
			w.mu.Unlock()
			continue
		}
		uid := w.list[rng.IntN(len(w.list))].uid
		w.mu.Unlock()
		if !contains(to, uid) {
			to = append(to, uid)
		}
	}
	return to
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
