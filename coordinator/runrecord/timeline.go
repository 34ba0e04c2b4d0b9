package runrecord

import "github.com/hbctl/hbctl/coordinator/api"

// TimelineFile is the run timeline in the coordinator's data dir: JSON
// lines, one TimelineSecond per complete second and one TimelineEvent per
// phase change, in the order they became final.
const TimelineFile = "timeline.jsonl"

// TimelineSecond is one complete second over all agents.
type TimelineSecond struct {
	T      int64 `json:"t"`      // Unix second
	Target int64 `json:"target"` // fires the plan holds in this second
	api.Counters
	Shake       api.Percentiles        `json:"shake"`
	Open        api.Percentiles        `json:"open"`
	Lateness    api.Percentiles        `json:"lateness"`
	Connections api.Connections        `json:"connections"`
	Agents      map[string]AgentSecond `json:"agents,omitempty"`
	// ServerReceived is the SHAKEs the target servers counted arriving in
	// this second (their GET /v1/stats shake_per_second), summed; absent
	// when no server admin API is known or no server reported the second.
	// It is written even when zero.
	ServerReceived *int64 `json:"server_received,omitempty"`
	// ServersMissing counts target servers whose count of this second
	// never arrived: ServerReceived then sums only the others.
	ServersMissing int `json:"servers_missing,omitempty"`
}

// AgentSecond is one agent's part of a second.
type AgentSecond struct {
	Sent     int64   `json:"sent"`
	Received int64   `json:"received"`
	Missed   int64   `json:"missed,omitempty"`
	Lost     int64   `json:"lost,omitempty"`
	P99      float64 `json:"p99_ms"`

	Fires        int64 `json:"fires,omitempty"` // the agent's share of the plan: sent + missed + skipped
	Got          int64 `json:"got,omitempty"`
	None         int64 `json:"none,omitempty"`
	Overloaded   int64 `json:"overloaded,omitempty"`
	Skipped      int64 `json:"skipped,omitempty"`
	Unanswered   int64 `json:"unanswered,omitempty"`
	OpenSent     int64 `json:"open_sent,omitempty"`
	OpenAnswered int64 `json:"open_answered,omitempty"`
	GrantAmount  int64 `json:"grant_amount,omitempty"`
	OpenAmount   int64 `json:"open_amount,omitempty"`
	Notified     int64 `json:"notified,omitempty"`
	// Shake and Open are the agent's own percentiles of the second, merged
	// from its windows; nil when it measured none.
	Shake       *api.Percentiles `json:"shake,omitempty"`
	Open        *api.Percentiles `json:"open,omitempty"`
	LatenessP99 float64          `json:"lateness_p99_ms,omitempty"`
	// Conns, OffsetMs and DelayMs are the agent's state as last reported
	// when the second became final.
	Conns    *api.Connections `json:"conns,omitempty"`
	OffsetMs float64          `json:"offset_ms,omitempty"`
	DelayMs  float64          `json:"delay_ms,omitempty"`
}

// TimelineEvent is a phase change (connect, qps, shake, send, disconnect,
// agent_dead, agent_back, replan, ...).
type TimelineEvent = api.Event
