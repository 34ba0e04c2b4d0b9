package admin

import "github.com/hbctl/hbctl/internal/httpserve"

// Paths of the admin API. Every /v1/ path needs "Authorization: Bearer
// TOKEN"; PathHealth does not.
const (
	PathShake  = "/v1/shake"  // POST ShakeRequest → 202 Started
	PathSend   = "/v1/send"   // POST SendRequest → 202 Started
	PathStats  = "/v1/stats"  // GET → Stats
	PathLedger = "/v1/ledger" // GET → the journal, JSON lines of ledger.Record
	PathUsers  = "/v1/users"  // GET → JSON lines of ledger.ServerUser
	PathHealth = "/healthz"   // GET → "ok"
)

// ShakeRequest releases Total shake envelopes at Rate per second into the
// SET pools, amounts uniform in [MinAmount, MaxAmount] cents (0: the
// server's defaults).
type ShakeRequest struct {
	Rate      int `json:"rate"`
	Total     int `json:"total"`
	MinAmount int `json:"min_amount"`
	MaxAmount int `json:"max_amount"`
}

// SendRequest releases Total envelopes at Rate per second, each pushed to
// Recipients distinct random connected users (0 means 3) and worth an
// amount uniform in [MinAmount, MaxAmount], at least a cent per recipient.
type SendRequest struct {
	Rate       int `json:"rate"`
	Total      int `json:"total"`
	Recipients int `json:"recipients"`
	MinAmount  int `json:"min_amount"`
	MaxAmount  int `json:"max_amount"`
}

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
	// last complete seconds the server keeps (fewer right after start),
	// oldest first, counted by arrival.
	ShakePerSecond [][2]int64 `json:"shake_per_second"`
	Releasing      Releasing  `json:"releasing"`
	// Releases is the last shake and send release on this data dir, with
	// how many of how many it released; Interrupted every release cut
	// short (by a crash, a stop or a journal failure), oldest first.
	Releases    Releases       `json:"releases"`
	Interrupted []ReleaseState `json:"interrupted"`
	// Incarnation counts the starts on this data dir; Restarts are those
	// that followed a crash, with the window its counters missed.
	Incarnation int       `json:"incarnation"`
	Restarts    []Restart `json:"restarts"`
	MaxQPS      int       `json:"max_qps"`
	Sets        int       `json:"sets"`
	UptimeS     float64   `json:"uptime_s"`
}

// JournalStats: while the journal cannot be written (a full disk) the
// server grants, pays and notifies nothing; SHAKEs get 17 (overloaded),
// first OPENs 0.
type JournalStats struct {
	Writable bool `json:"writable"`
	// FailedCommits counts group commits that could not be written.
	FailedCommits int64 `json:"failed_commits"`
	// Refused counts grants, payments and notifications refused, or taken
	// back from a failed commit, for want of a record.
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

// Releases is the last release of each kind; nil when there was none.
type Releases struct {
	Shake *ReleaseState `json:"shake,omitempty"`
	Send  *ReleaseState `json:"send,omitempty"`
}

// ReleaseState is a shake or send release: how many of how many
// envelopes it released, and whether it runs, finished or was cut short.
type ReleaseState struct {
	Kind          string `json:"kind"` // shake or send
	Total         int    `json:"total"`
	Done          int    `json:"done"` // envelopes released (journaled)
	Rate          int    `json:"rate"`
	StartedMillis int64  `json:"started_ms"`
	State         string `json:"state"` // running, done or interrupted
	// Why says what cut an interrupted release short.
	Why string `json:"why,omitempty"`
}

// Restart is a start of the server that followed a crash: its per-user
// counters missed the requests received from CheckpointMillis (its last
// counters checkpoint) to RestartMillis (server clock, Unix ms).
type Restart struct {
	Incarnation      int   `json:"incarnation"`
	CheckpointMillis int64 `json:"checkpoint_ms"`
	RestartMillis    int64 `json:"restart_ms"`
	// Bounded says the window is known; false (a data dir written by a
	// server that kept no start time) means the counters are lost and
	// verification skips the request checks.
	Bounded bool `json:"bounded"`
}

// ErrorBody is the body of every admin API error: why, and which request
// field when one is at fault.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
