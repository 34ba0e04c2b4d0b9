package api

import (
	"github.com/hbctl/hbctl/coordinator/schedule"
)

// Paths of the agent side of the API. {name} is the agent's name.
const (
	PathRegister   = "/v1/agents"                   // POST RegisterRequest → RegisterResponse
	PathHeartbeat  = "/v1/agents/{name}/heartbeat"  // POST Heartbeat → HeartbeatResponse
	PathAssignment = "/v1/agents/{name}/assignment" // GET ?after=VERSION (long poll) → Assignment or 204
)

// RegisterRequest is what an agent says about itself when it dials in. A
// name that is already registered (an agent coming back) keeps its users.
type RegisterRequest struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	Bind     string `json:"bind,omitempty"`
	Version  string `json:"version,omitempty"`
}

// RegisterResponse tells the agent where the time service listens (a UDP
// port on the coordinator's host) and how often to report.
type RegisterResponse struct {
	TimePort          int   `json:"time_port"`
	HeartbeatMillis   int64 `json:"heartbeat_ms"`
	AssignmentVersion int64 `json:"assignment_version"`
}

// Heartbeat is sent by every agent once a second: the windows it completed
// since the last accepted heartbeat, its engine status and its clock.
type Heartbeat struct {
	// Seq numbers the windows batch; a batch resent after a lost answer
	// carries the same Seq and is counted once.
	Seq     int64       `json:"seq"`
	Windows []Window    `json:"windows,omitempty"`
	Status  AgentStatus `json:"status"`
	// Clock offset and round-trip delay measured against the time service
	// (coordinator time = local time + offset), in microseconds.
	OffsetMicros int64 `json:"offset_us"`
	DelayMicros  int64 `json:"delay_us"`
	ClockOK      bool  `json:"clock_ok"`
	// DroppedWindows counts windows the agent could not deliver (backlog
	// overflow while the coordinator was away).
	DroppedWindows int64 `json:"dropped_windows,omitempty"`
	// Host is the agent's host sampling since the last heartbeat.
	Host *HostMetrics `json:"host,omitempty"`
}

// HeartbeatResponse carries the current assignment version so an agent
// notices a missed update even if its long poll was interrupted.
type HeartbeatResponse struct {
	AssignmentVersion int64 `json:"assignment_version"`
}

// AgentStatus is the engine's state as the agent reports it.
type AgentStatus struct {
	Target      int    `json:"target"`      // users assigned
	Established int    `json:"established"` // logged-in connections now
	Failed      int64  `json:"failed"`      // connection attempts that failed, total
	Closed      int64  `json:"closed"`      // connections closed after login, total
	PlanID      uint64 `json:"plan_id"`
	Rate        int64  `json:"rate"` // global Q in force now
}

// Assignment is everything an agent must do: which servers, which users,
// which plan. Version grows on every change; an agent applies the newest.
type Assignment struct {
	Version     int64            `json:"version"`
	Servers     []string         `json:"servers,omitempty"`
	Users       []schedule.Range `json:"users,omitempty"`
	ConnectRate int              `json:"connect_rate,omitempty"` // this agent's share of connect --rate, per second
	Plan        *schedule.Plan   `json:"plan,omitempty"`
	// Disconnected: close every user connection and stop firing.
	Disconnected bool `json:"disconnected,omitempty"`
	// Collect asks for the agent's ledger (verification); nil otherwise.
	Collect *Collect `json:"collect,omitempty"`
}
