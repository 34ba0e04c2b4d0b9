package api

// Status is GET /v1/status and `hbctl status --json`. Field names are
// stable; new fields may be added, none removed or renamed.
type Status struct {
	Now         int64          `json:"now_ms"` // coordinator time, Unix ms
	Plan        PlanStatus     `json:"plan"`
	Agents      []AgentInfo    `json:"agents"`
	Connections Connections    `json:"connections"`
	Last        *SecondSummary `json:"last_second,omitempty"` // the newest complete second
	Run         RunSummary     `json:"run"`
	// Seconds holds the last 120 complete seconds, oldest first.
	Seconds []SecondBrief `json:"seconds"`
	Events  []Event       `json:"events,omitempty"` // the newest events, oldest first
	// LateWindows counts agent windows that arrived after their second was
	// final (counted in run, not in seconds).
	LateWindows int64 `json:"late_windows"`
	// RejectedWindows counts windows refused because their second was
	// more than 10 minutes before or 1 minute after the coordinator's now.
	RejectedWindows int64 `json:"rejected_windows"`
	// ServerStatsErrors counts failed polls of the target servers'
	// GET /v1/stats (their per-second SHAKE arrivals).
	ServerStatsErrors int64 `json:"server_stats_errors,omitempty"`
	// Telemetry is what the metric sinks did; absent without sinks.
	Telemetry *TelemetryStatus `json:"telemetry,omitempty"`
	// Servers is what the target servers' admin APIs last said about
	// their connections, in connect order; absent without admin URLs.
	Servers []ServerInfo `json:"servers,omitempty"`
	// HTTP counts what the coordinator's HTTP timeouts and body limits did.
	HTTP HTTPStatus `json:"http"`
	// Releases is each target server's last shake and send release, as
	// last polled: how many of how many, running, done or interrupted.
	Releases []ServerRelease `json:"releases,omitempty"`
}

// ServerRelease is one server's release ("releases" and "interrupted" of
// its GET /v1/stats).
type ServerRelease struct {
	Admin         string `json:"admin"`
	Kind          string `json:"kind"` // shake or send
	Total         int    `json:"total"`
	Done          int    `json:"done"`
	Rate          int    `json:"rate"`
	StartedMillis int64  `json:"started_ms"`
	State         string `json:"state"` // running, done or interrupted
	Why           string `json:"why,omitempty"`
}

// ServerInfo is one target server's connection counters, from its
// GET /v1/stats (limits).
type ServerInfo struct {
	Admin string `json:"admin"`
	Wire  string `json:"wire,omitempty"`
	// Polled is false until a poll answered; Error is the last poll's
	// failure, if it failed.
	Polled             bool   `json:"polled"`
	Error              string `json:"error,omitempty"`
	Connections        int64  `json:"connections"` // logged in
	Open               int64  `json:"open"`        // held, logged in or not
	MaxConnections     int    `json:"max_connections"`
	Refused            int64  `json:"refused"`
	EvictedBeforeLogin int64  `json:"evicted_before_login"`
	LoginTimeouts      int64  `json:"login_timeouts"`
	FrameTimeouts      int64  `json:"frame_timeouts"`
}

// HTTPStatus counts connections the coordinator's HTTP server closed for
// a passed deadline (slow header or body, slow reader, idle keep-alive)
// and request bodies refused for their size.
type HTTPStatus struct {
	ClosedByDeadline int64 `json:"closed_by_deadline"`
	TooLarge         int64 `json:"too_large"`
}

// PlanStatus is the plan the agents run.
type PlanStatus struct {
	ID       uint64        `json:"id"`
	Users    int64         `json:"users"`
	Rate     int64         `json:"rate"` // Q in force now
	Segments []RateSegment `json:"segments,omitempty"`
	Active   bool          `json:"active"`
}

// AgentInfo is one agent as the registry knows it.
type AgentInfo struct {
	Name       string  `json:"name"`
	Alive      bool    `json:"alive"`
	Capacity   int     `json:"capacity"`
	Bind       string  `json:"bind,omitempty"`
	Users      int     `json:"users"`        // assigned
	Conns      int     `json:"conns"`        // established, as last reported
	OffsetMs   float64 `json:"offset_ms"`    // clock offset to the coordinator
	DelayMs    float64 `json:"delay_ms"`     // time-service round trip
	LastSeenMs int64   `json:"last_seen_ms"` // Unix ms of the last heartbeat
	Registered int64   `json:"registered_ms"`
	PlanID     uint64  `json:"plan_id"`
}

// Connections sums the agents' connections.
type Connections struct {
	Target      int   `json:"target"`
	Established int   `json:"established"`
	Failed      int64 `json:"failed"`
	Closed      int64 `json:"closed"`
}

// Percentiles of a latency histogram, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Counters are the request counters summed over agents.
type Counters struct {
	Sent         int64 `json:"sent"`
	Received     int64 `json:"received"`
	Got          int64 `json:"got"`
	None         int64 `json:"none"`
	Overloaded   int64 `json:"overloaded"`
	Missed       int64 `json:"missed"`
	Skipped      int64 `json:"skipped"`
	Unanswered   int64 `json:"unanswered"`
	Lost         int64 `json:"lost"`
	OpenSent     int64 `json:"open_sent"`
	OpenAnswered int64 `json:"open_answered"`
	GrantAmount  int64 `json:"grant_amount"`
	OpenAmount   int64 `json:"open_amount"`
}

// SecondSummary is one complete second over all agents.
type SecondSummary struct {
	T      int64 `json:"t"`
	Target int64 `json:"target"`
	Counters
	// ServerReceived is the SHAKEs the target servers counted arriving in
	// the second; absent when unknown.
	ServerReceived *int64      `json:"server_received,omitempty"`
	Shake          Percentiles `json:"shake"`
	Open           Percentiles `json:"open"`
	Lateness       Percentiles `json:"lateness"`
}

// RunSummary covers every second since the coordinator started.
type RunSummary struct {
	Counters
	Shake    Percentiles `json:"shake"`
	Open     Percentiles `json:"open"`
	Lateness Percentiles `json:"lateness"`
}

// SecondBrief is one complete second in Status.Seconds.
type SecondBrief struct {
	T        int64 `json:"t"`
	Target   int64 `json:"target"`
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	// ServerReceived is the SHAKEs the target servers counted arriving in
	// the second; absent when unknown.
	ServerReceived *int64  `json:"server_received,omitempty"`
	P99            float64 `json:"p99_ms"`
}

// Event is a phase change on the run timeline.
type Event struct {
	T      int64  `json:"t_ms"`
	Kind   string `json:"event"` // connect, qps, shake, send, disconnect, agent_registered, agent_dead, agent_back, replan, release_interrupted
	Detail string `json:"detail,omitempty"`
	Agent  string `json:"agent,omitempty"`
	Q      int64  `json:"q,omitempty"`
	At     int64  `json:"at,omitempty"` // Unix seconds the change takes effect
	PlanID uint64 `json:"plan_id,omitempty"`
}
