package api

import (
	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/server/ledger"
)

// Paths of verification.
const (
	PathVerify      = "/v1/verify"               // POST VerifyRequest → VerifyResponse
	PathAgentLedger = "/v1/agents/{name}/ledger" // POST AgentLedger (agent → coordinator, on a Collect)
)

// VerifyRequest asks the coordinator to quiesce the run, collect every
// ledger and reconcile them.
type VerifyRequest struct {
	// GraceMillis bounds the wait for in-flight requests to be answered
	// and for running releases to finish (default 5000).
	GraceMillis int64 `json:"grace_ms,omitempty"`
	// UploadMillis bounds the wait for each agent's upload, counted from
	// the start or the last upload that arrived (default 60000).
	UploadMillis int64 `json:"upload_ms,omitempty"`
	// AllowPartial accepts servers without an admin API: their
	// server-side checks are listed as skipped and do not make the
	// verification fail.
	AllowPartial bool `json:"allow_partial,omitempty"`
	// StayQuiet leaves the rate at 0 afterwards instead of restoring it.
	StayQuiet bool `json:"stay_quiet,omitempty"`
	// SaveInput also writes the ledgers as reconciled (checks.Input) to
	// verify-input.json in the coordinator's data dir, to check them again
	// offline. It is the size of every ledger together.
	SaveInput bool `json:"save_input,omitempty"`
}

// VerifyResponse is the checks report with what the coordinator adds:
// the exit code `hbctl verify ledger` should end with, and the problems
// that kept it from verifying (exit 2). It is also verify.json in the
// coordinator's data dir. Report is nil when nothing could be reconciled.
type VerifyResponse struct {
	*checks.Report
	ExitCode int `json:"exit_code"`
	// Problems are why the ledgers could not be (fully) verified: an
	// agent that did not upload, a server unreachable, a server restarted
	// during the run, a release still running.
	Problems []string `json:"problems"`
	// Quiesce says how the load was stopped.
	Quiesce Quiesce `json:"quiesce"`
	// Agents and Servers say where each ledger came from.
	Agents  []LedgerSource `json:"agents"`
	Servers []LedgerSource `json:"servers_collected"`
	// DurationMillis is the whole verification, quiescing included.
	DurationMillis int64 `json:"duration_ms"`
}

// Quiesce describes the quiet period verification needed.
type Quiesce struct {
	PreviousRate int64 `json:"previous_rate"`
	RateZeroAt   int64 `json:"rate_zero_at"` // Unix s
	Restored     bool  `json:"restored"`
	// PendingAtCut is the SHAKEs still awaited when the ledgers were
	// taken (non-zero when the grace passed first).
	PendingAtCut uint64 `json:"pending_at_cut"`
	Rounds       int    `json:"rounds"` // agent collection rounds
	WaitedMillis int64  `json:"waited_ms"`
}

// LedgerSource is one ledger collected.
type LedgerSource struct {
	Name    string `json:"name"`
	Records int    `json:"records"`
	Users   int    `json:"users"`
	Error   string `json:"error,omitempty"`
}

// Collect, in an Assignment, asks the agent to POST its AgentLedger with
// the same ID to PathAgentLedger. Full false asks only for the pending
// count (the coordinator polls it while it waits for quiet).
type Collect struct {
	ID   uint64 `json:"id"`
	Full bool   `json:"full"`
}

// AgentLedger is an agent's upload: its journal, its per-user counters
// and the restarts after which its counters may miss requests.
type AgentLedger struct {
	ID      uint64              `json:"id"`
	Pending uint64              `json:"pending"` // SHAKEs and OPENs awaiting an answer now
	Records []ledger.Record     `json:"records,omitempty"`
	Users   []ledger.ClientUser `json:"users,omitempty"`
	// Restarts are the times this agent resumed from a counters
	// checkpoint: requests it sent between the checkpoint and the restart
	// are in no counter.
	Restarts []Restart `json:"restarts,omitempty"`
	// Error says why the agent could not upload (an unreadable journal).
	Error string `json:"error,omitempty"`
}

// Restart is one resume from a checkpoint (both Unix ms, coordinator
// clock).
type Restart struct {
	CheckpointMillis int64 `json:"checkpoint_ms"`
	RestartMillis    int64 `json:"restart_ms"`
}
