package admin

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
	// ShakePerSecond is [unix_second, SHAKEs received] for each of the
	// last complete seconds the server keeps (fewer right after start),
	// oldest first, counted by arrival.
	ShakePerSecond [][2]int64 `json:"shake_per_second"`
	Releasing      Releasing  `json:"releasing"`
	MaxQPS         int        `json:"max_qps"`
	Sets           int        `json:"sets"`
	UptimeS        float64    `json:"uptime_s"`
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

// ErrorBody is the body of every admin API error: why, and which request
// field when one is at fault.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
