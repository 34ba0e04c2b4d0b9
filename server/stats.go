package server

import (
	"time"

	"github.com/hbctl/hbctl/internal/httpserve"

	"github.com/hbctl/hbctl/server/ledger"
)

// Stats is GET /v1/stats. Shake and send envelope figures cover the whole
// journal (they survive restarts); request, result and error counters
// count since this process started.
type Stats struct {
	Connections    int64        `json:"connections"` // logged-in connections now
	Shake          ShakeStats   `json:"shake"`
	Send           SendStats    `json:"send"`
	Requests       RequestStats `json:"requests"`
	Results        ResultStats  `json:"results"`
	ProtocolErrors int64        `json:"protocol_errors"`
	SlowConsumers  int64        `json:"slow_consumers"`
	// Limits counts what the connection limit and the read deadlines did.
	Limits LimitStats `json:"limits"`
	// Journal says whether the journal can be written and what its
	// failures refused.
	Journal JournalStats `json:"journal"`
	// AdminHTTP counts what the admin API's timeouts and body limit did.
	AdminHTTP httpserve.Stats `json:"admin_http"`
	// ShakePerSecond is [unix_second, SHAKEs received] for each of the
	// last ReportSecs complete seconds (fewer right after start), oldest
	// first, counted by arrival.
	ShakePerSecond [][2]int64 `json:"shake_per_second"`
	Releasing      Releasing  `json:"releasing"`
	MaxQPS         int        `json:"max_qps"`
	Sets           int        `json:"sets"`
	UptimeS        float64    `json:"uptime_s"`
}

// JournalStats: while the journal cannot be written (a full disk) the
// server grants and pays nothing and holds notifications back; SHAKEs get
// 17 (overloaded), first OPENs 0.
type JournalStats struct {
	Writable bool `json:"writable"`
	// FailedCommits counts group commits that could not be written.
	FailedCommits int64 `json:"failed_commits"`
	// Refused counts grants and payments refused and notifications held
	// back, or taken back from a failed commit, for want of a record.
	Refused   int64  `json:"refused"`
	LastError string `json:"last_error,omitempty"`
}

// LimitStats counts connections held and closed by the server's limits.
type LimitStats struct {
	// Open is the wire connections held now, logged in or not.
	Open int64 `json:"open"`
	// MaxConnections bounds Open.
	MaxConnections int `json:"max_connections"`
	// Refused counts connections closed as soon as they were accepted
	// because the server was at MaxConnections (or out of descriptors)
	// and every connection it held had logged in.
	Refused int64 `json:"refused"`
	// EvictedBeforeLogin counts connections that had not logged in, closed
	// at the limit to make room for a new one.
	EvictedBeforeLogin int64 `json:"evicted_before_login"`
	// LoginTimeouts counts connections closed for sending no LOGIN within
	// the login timeout.
	LoginTimeouts int64 `json:"login_timeouts"`
	// FrameTimeouts counts connections closed for leaving a frame
	// unfinished past the frame timeout.
	FrameTimeouts int64 `json:"frame_timeouts"`
}

// ShakeStats: issued = granted + pool, in count and in cents.
type ShakeStats struct {
	Issued        int64 `json:"issued"`
	IssuedAmount  int64 `json:"issued_amount"`
	Granted       int64 `json:"granted"`
	GrantedAmount int64 `json:"granted_amount"`
	Pool          int64 `json:"pool"`
	PoolAmount    int64 `json:"pool_amount"`
}

// SendStats counts sent envelopes and the shares paid on OPEN.
type SendStats struct {
	Sent         int64 `json:"sent"`
	SentAmount   int64 `json:"sent_amount"`
	Opened       int64 `json:"opened"`
	OpenedAmount int64 `json:"opened_amount"`
}

// RequestStats counts requests received.
type RequestStats struct {
	Login int64 `json:"login"`
	Shake int64 `json:"shake"`
	Open  int64 `json:"open"`
}

// ResultStats counts SHAKE_RESPs by result.
type ResultStats struct {
	Got        int64 `json:"got"`
	None       int64 `json:"none"`
	Overloaded int64 `json:"overloaded"`
}

// Releasing says which releases are running.
type Releasing struct {
	Shake bool `json:"shake"`
	Send  bool `json:"send"`
}

// Stats is a snapshot of the server's counters (GET /v1/stats).
func (s *Server) Stats() Stats {
	r := &s.rel
	st := Stats{
		Connections:    s.connections.Load(),
		ProtocolErrors: s.protoErrs.Load(),
		SlowConsumers:  s.slow.Load(),
		Limits: LimitStats{
			Open:               s.open.Load(),
			MaxConnections:     s.cfg.MaxConns,
			Refused:            s.refused.Load(),
			EvictedBeforeLogin: s.evicted.Load(),
			LoginTimeouts:      s.loginTimeouts.Load(),
			FrameTimeouts:      s.frameTimeouts.Load(),
		},
		AdminHTTP: s.http.Stats(),
		Journal: JournalStats{
			Writable:      s.j.Healthy() && s.j.Err() == nil,
			FailedCommits: s.journalFails.Load(),
			Refused:       s.journalRefused.Load(),
		},
		MaxQPS:  s.cfg.MaxQPS,
		Sets:    len(s.sets),
		UptimeS: time.Since(s.start).Seconds(),
	}
	st.Requests.Login = s.logins.Load()
	if e, ok := s.journalErr.Load().(string); ok {
		st.Journal.LastError = e
	}
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
