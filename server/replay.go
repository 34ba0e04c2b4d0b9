package server

import (
	"fmt"
	"slices"

	"github.com/hbctl/hbctl/server/ledger"
)

// replay rebuilds the state a previous run left in the journal: the next
// envelope ids, the shake envelopes issued but never granted (back in the
// pools), and each sent envelope with the shares already paid, so that a
// repeated OPEN after a restart returns the same share.
func (s *Server) replay(rp ledger.Replay) error {
	pooled := make(map[uint32]uint32) // issued, not yet granted: id -> amount
	nextShake, nextSend := ShakeIDBase, SendIDBase
	r := &s.rel
	// A release that a crash cut short is told by its count: fewer issue
	// (send) records after it than its total, before the next of its kind.
	settle := func(st *ReleaseState) {
		if st != nil && st.Done < st.Total {
			st.State, st.Why = ReleaseInterrupted, "the server stopped before it ended (crash or stop)"
			r.interrupted = append(r.interrupted, *st)
		} else if st != nil {
			st.State = ReleaseDone
		}
	}
	for i := range rp.Records {
		rec := &rp.Records[i]
		switch rec.Ev {
		case ledger.EvRelease:
			st := &ReleaseState{Kind: rec.Kind, Total: int(rec.Total), Rate: int(rec.Rate), StartedMillis: rec.T, State: ReleaseRunning}
			if rec.Kind == ledger.ReleaseShake {
				settle(r.lastShake)
				r.lastShake = st
			} else {
				settle(r.lastSend)
				r.lastSend = st
			}
		case ledger.EvIssue:
			if _, dup := pooled[rec.Env]; dup {
				return fmt.Errorf("envelope %#x issued twice", rec.Env)
			}
			pooled[rec.Env] = rec.Amount
			if r.lastShake != nil {
				r.lastShake.Done++
			}
			s.sets[0].issued++
			s.sets[0].issuedAmount += int64(rec.Amount)
			nextShake = max(nextShake, rec.Env+1)
		case ledger.EvGrant:
			if _, ok := pooled[rec.Env]; !ok {
				return fmt.Errorf("envelope %#x granted but not in any pool", rec.Env)
			}
			delete(pooled, rec.Env)
			s.sets[0].granted++
			s.sets[0].grantedAmount += int64(rec.Amount)
		case ledger.EvSend:
			if len(rec.To) == 0 || len(rec.To) > len(sent{}.to) {
				return fmt.Errorf("sent envelope %#x has %d recipients", rec.Env, len(rec.To))
			}
			s.sends.add(rec.Env, rec.Amount, rec.To)
			if r.lastSend != nil {
				r.lastSend.Done++
			}
			r.sent.Add(1)
			r.sentAmount.Add(int64(rec.Amount))
			nextSend = max(nextSend, rec.Env+1)
		case ledger.EvOpen:
			s.sends.replayOpen(rec.Env, rec.UID, rec.Amount)
		}
	}
	settle(r.lastShake)
	settle(r.lastSend)
	for _, st := range r.interrupted {
		s.log.Error("a release was interrupted", "kind", st.Kind, "done", st.Done, "total", st.Total, "started_ms", st.StartedMillis)
	}
	ids := make([]uint32, 0, len(pooled))
	for id := range pooled {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.toPool(envelope{id: id, amount: pooled[id]}, false)
	}
	r.nextShake, r.nextSend = nextShake, nextSend
	if len(rp.Records) > 0 {
		s.log.Info("journal replayed", "records", len(rp.Records), "pooled", len(ids),
			"next_shake_id", nextShake, "next_send_id", nextSend, "torn_tail", rp.TornTail)
	}
	return nil
}
