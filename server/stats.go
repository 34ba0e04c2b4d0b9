package server

import (
	"time"

	"github.com/hbctl/hbctl/server/admin"
	"github.com/hbctl/hbctl/server/ledger"
)

// The admin API's types are server/admin's, shared with its callers.
type (
	Stats        = admin.Stats
	ShakeStats   = admin.ShakeStats
	SendStats    = admin.SendStats
	RequestStats = admin.RequestStats
	ResultStats  = admin.ResultStats
	Releasing    = admin.Releasing
)

// Stats is a snapshot of the server's counters (GET /v1/stats).
func (s *Server) Stats() Stats {
	r := &s.rel
	st := Stats{
		Connections:    s.connections.Load(),
		ProtocolErrors: s.protoErrs.Load(),
		SlowConsumers:  s.slow.Load(),
		MaxQPS:         s.cfg.MaxQPS,
		Sets:           len(s.sets),
		UptimeS:        time.Since(s.start).Seconds(),
	}
	st.Requests.Login = s.logins.Load()
	for _, w := range s.sets {
		w.mu.Lock()
		st.Shake.Issued += w.issued
		st.Shake.IssuedAmount += w.issuedAmount
		st.Shake.Granted += w.granted
		st.Shake.GrantedAmount += w.grantedAmount
		st.Shake.Pool += int64(w.pool.len())
		st.Shake.PoolAmount += int64(w.pool.amount)
		w.mu.Unlock()
		ws := &w.stats
		st.Requests.Shake += ws.shake.Load()
		st.Requests.Open += ws.open.Load()
		st.Results.Got += ws.got.Load()
		st.Results.None += ws.none.Load()
		st.Results.Overloaded += ws.overloaded.Load()
	}
	st.Send = SendStats{
		Sent:         r.sent.Load(),
		SentAmount:   r.sentAmount.Load(),
		Opened:       s.sends.opened.Load(),
		OpenedAmount: s.sends.openedAmount.Load(),
	}
	r.mu.Lock()
	st.Releasing = Releasing{Shake: r.shaking, Send: r.sending}
	r.mu.Unlock()
	st.ShakePerSecond = s.shakePerSecond(time.Now().Unix())
	return st
}

func (s *Server) shakePerSecond(now int64) [][2]int64 {
	from := max(now-ReportSecs, s.start.Unix())
	out := make([][2]int64, 0, now-from)
	for sec := from; sec < now; sec++ {
		var n int64
		for _, w := range s.sets {
			n += w.stats.perSec.get(sec)
		}
		out = append(out, [2]int64{sec, n})
	}
	return out
}

// Users returns the request counters of every user with any activity
// (GET /v1/users), in no particular order.
func (s *Server) Users() []ledger.ServerUser {
	var out []ledger.ServerUser
	for i, w := range s.sets {
		out = w.users.appendActive(&w.mu, i, out)
	}
	return out
}
