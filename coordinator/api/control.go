package api

import "github.com/hbctl/hbctl/coordinator/schedule"

// Paths of the control side of the API (what hbctl's commands call).
const (
	PathConnect    = "/v1/connect"    // POST ConnectRequest → ConnectResponse
	PathQPS        = "/v1/qps"        // POST QPSRequest → QPSResponse; GET → QPSResponse
	PathShake      = "/v1/shake"      // POST ShakeRequest → ForwardResponse
	PathSend       = "/v1/send"       // POST SendRequest → ForwardResponse
	PathStatus     = "/v1/status"     // GET → Status
	PathDisconnect = "/v1/disconnect" // POST → DisconnectResponse
	PathHealth     = "/healthz"       // GET, no token
)

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	// Shortfall is set when connect asks for more users than the live
	// agents can hold: how many users are missing.
	Shortfall int `json:"shortfall,omitempty"`
}

// Admin is one target server's admin API.
type Admin struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// ConnectRequest asks the agents to hold users 0..Users-1 on Servers.
type ConnectRequest struct {
	Servers []string `json:"servers"`
	Admins  []Admin  `json:"admins,omitempty"`
	Users   int      `json:"users"`
	Rate    int      `json:"rate,omitempty"` // total logins per second over all agents; 0 = agents' default
}

// ConnectResponse says how the users were split.
type ConnectResponse struct {
	PlanID uint64        `json:"plan_id"`
	Agents []AgentShare  `json:"agents"`
	Users  int           `json:"users"`
	Start  int64         `json:"start"` // plan start, Unix seconds
	Plan   schedule.Plan `json:"plan"`
}

// AgentShare is one agent's part of a connect.
type AgentShare struct {
	Name  string           `json:"name"`
	Users []schedule.Range `json:"users"`
	Count int              `json:"count"`
}

// QPSRequest sets the global SHAKE rate. The change takes effect at the
// first whole second at least DelayMillis from now (default 2000), or at
// the first whole second at or after At (Unix ms) if At is set.
type QPSRequest struct {
	Q           int64 `json:"q"`
	DelayMillis int64 `json:"delay_ms,omitempty"`
	AtMillis    int64 `json:"at_ms,omitempty"`
}

// QPSResponse is the rate in force and the segments scheduled.
type QPSResponse struct {
	PlanID    uint64        `json:"plan_id"`
	Now       int64         `json:"now_ms"`
	Current   int64         `json:"current"`
	Effective int64         `json:"effective,omitempty"` // Unix seconds of the segment just set
	Segments  []RateSegment `json:"segments"`
}

// RateSegment is a rate from second T on.
type RateSegment struct {
	T int64 `json:"t"` // Unix seconds
	Q int64 `json:"q"`
}

// ShakeRequest is forwarded to every target server's POST /v1/shake, the
// rate and total split so that their sums are exact.
type ShakeRequest struct {
	Rate      int `json:"rate"`
	Total     int `json:"total"`
	MinAmount int `json:"min_amount,omitempty"`
	MaxAmount int `json:"max_amount,omitempty"`
}

// SendRequest is forwarded to every target server's POST /v1/send.
type SendRequest struct {
	Rate       int `json:"rate"`
	Total      int `json:"total"`
	Recipients int `json:"recipients,omitempty"`
	MinAmount  int `json:"min_amount,omitempty"`
	MaxAmount  int `json:"max_amount,omitempty"`
}

// ForwardResponse lists what each server was asked and answered.
type ForwardResponse struct {
	Started int64           `json:"started_ms"`
	Servers []ForwardResult `json:"servers"`
	// Error says why, when some server refused or failed.
	Error string `json:"error,omitempty"`
}

// ForwardResult is one server's part of a shake or send.
type ForwardResult struct {
	Admin  string `json:"admin"`
	Rate   int    `json:"rate"`
	Total  int    `json:"total"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// DisconnectResponse says which plan ended.
type DisconnectResponse struct {
	PlanID uint64 `json:"plan_id"`
	Agents int    `json:"agents"`
}
