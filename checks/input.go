package checks

import "github.com/hbctl/hbctl/server/ledger"

// Input is everything Verify reconciles: the ledgers of every server and
// every agent of one run, taken after the load was quiesced.
type Input struct {
	Servers []Server `json:"servers"`
	Agents  []Agent  `json:"agents"`
}

// Server is one access server's side of the run.
type Server struct {
	// Name is the server's wire address ("127.0.0.1:1025"), the "srv" the
	// agents write on their records and counters. Names are unique.
	Name string `json:"name"`
	// ClientOnly says the server has no admin API: Records, Users and
	// Stats are unknown and ignored, and only what the clients' ledgers
	// can prove is checked for it (Report.Skipped lists the rest).
	ClientOnly bool `json:"client_only,omitempty"`
	// Records is the server's journal: issue, grant, send, notify, open.
	Records []ledger.Record `json:"records,omitempty"`
	// Users is the server's per-user counters, in any order. A user
	// missing from the list counts as all zeros.
	Users []ledger.ServerUser `json:"users,omitempty"`
	// Stats is the server's shake pool figures from its admin API; nil
	// when unavailable, which skips the pool balance checks.
	Stats *PoolStats `json:"stats,omitempty"`
	// UnknownCounts bounds what the server's per-user counters may miss:
	// after a crash they resume from the last checkpoint (and the journal),
	// so the requests received between that checkpoint and the crash are
	// in no counter. Each entry says users UIDs sent at most Count requests
	// (SHAKE or OPEN) in that window, all together; Srv is left empty.
	UnknownCounts []UnknownShakes `json:"unknown_counts,omitempty"`
	// CountersLost says the per-user counters cannot be trusted at all (a
	// restart with no checkpoint to resume from): the request checks are
	// skipped for this server, the journal checks still run.
	CountersLost bool `json:"counters_lost,omitempty"`
}

// PoolStats is a server's shake envelope figures ("shake" in GET
// /v1/stats): issued = granted + pool, in count and in cents.
type PoolStats struct {
	Issued        int64 `json:"issued"`
	IssuedAmount  int64 `json:"issued_amount"`
	Granted       int64 `json:"granted"`
	GrantedAmount int64 `json:"granted_amount"`
	Pool          int64 `json:"pool"`
	PoolAmount    int64 `json:"pool_amount"`
}

// Agent is one agent's side of the run.
type Agent struct {
	Name string `json:"name"`
	// Records is the agent's journal: grant (SHAKE_RESP 14), notify
	// (ENVELOPE, with "to" and "amount") and open (OPEN_RESP), each with
	// "srv", and the connection events login and down. An empty "srv" is
	// allowed only when the run has one server. A down record excuses the
	// ENVELOPEs written to that user before it that never arrived, until a
	// login brings them again.
	Records []ledger.Record `json:"records,omitempty"`
	// Users is the agent's per-user counters, each with "srv" (same rule).
	// A user may appear in several agents (re-planned after a failure):
	// its counters are summed.
	Users []ledger.ClientUser `json:"users,omitempty"`
	// UnknownShakes bounds the requests this agent may have sent after its
	// last counters checkpoint, when it was killed and restarted: their
	// outcome is unknown and its counters do not include them.
	UnknownShakes []UnknownShakes `json:"unknown_shakes,omitempty"`
}

// UnknownShakes says that the users UIDs of server Srv sent, all together,
// at most Count requests (SHAKE or OPEN) the agent's counters do not
// include. Per-user bounds are one entry per user; a bound shared by many
// users is one entry listing them all. A user in several entries draws on
// them in order.
type UnknownShakes struct {
	Srv   string   `json:"srv,omitempty"`
	UIDs  []uint32 `json:"uids"`
	Count uint64   `json:"count"`
	// FromMillis and ToMillis (Unix ms), when set, are the span the bound
	// covers: from the agent's last checkpoint (less a slack for late
	// writes) to its restart. Its connections were down or uncounted
	// then, so a recipient among UIDs that no ENVELOPE reached, of a send
	// journaled in the span, is excused (counted in
	// Unknown.RecipientsNotNotified) rather than reported.
	FromMillis int64 `json:"from_ms,omitempty"`
	ToMillis   int64 `json:"to_ms,omitempty"`
}
