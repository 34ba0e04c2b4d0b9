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
	for i := range rp.Records {
		rec := &rp.Records[i]
		switch rec.Ev {
		case ledger.EvIssue:
			if _, dup := pooled[rec.Env]; dup {
				return fmt.Errorf("envelope %#x issued twice", rec.Env)
			}
			pooled[rec.Env] = rec.Amount
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
			r.sent.Add(1)
			r.sentAmount.Add(int64(rec.Amount))
			nextSend = max(nextSend, rec.Env+1)
		case ledger.EvOpen:
			s.sends.replayOpen(rec.Env, rec.UID, rec.Amount)
		}
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
