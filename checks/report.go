package checks

// Report is the outcome of Verify. Its JSON form is documented in
// docs/ledgers.md ("Ledger reconciliation") and kept stable: fields are only ever added.
type Report struct {
	Verdict Verdict `json:"verdict"`
	// Totals sums every server (with an admin API) and every agent.
	Totals Totals `json:"totals"`
	// Servers has the same figures per server, in Input order; the client
	// side is what the agents recorded against that server.
	Servers []ServerSummary `json:"servers"`
	// Unknown counts the outcomes no ledger can settle, and how much of
	// the servers' figures they had to explain.
	Unknown Unknown `json:"unknown"`
	// Discrepancies is every fault found, sorted by server, envelope, uid
	// and kind; at most the configured maximum (see Truncated).
	Discrepancies []Discrepancy `json:"discrepancies"`
	// DiscrepancyCounts counts every fault found by kind, kept or not.
	DiscrepancyCounts map[Kind]uint64 `json:"discrepancy_counts"`
	// Truncated is how many discrepancies were found beyond the maximum
	// and left out of Discrepancies.
	Truncated uint64 `json:"truncated"`
	// Skipped lists the checks that could not run, and why.
	Skipped []Skipped `json:"skipped"`
}

// Verdict is the one-word outcome of a verification.
type Verdict string

const (
	// VerdictReconciled: every check ran and found nothing.
	VerdictReconciled Verdict = "reconciled"
	// VerdictDiscrepancies: at least one discrepancy.
	VerdictDiscrepancies Verdict = "discrepancies"
	// VerdictIncomplete: no discrepancy, but some checks could not run.
	VerdictIncomplete Verdict = "incomplete"
)

// ExitCode is the process exit status for the verdict, as `hbctl verify
// ledger` documents it: 0 reconciled, 1 discrepancies, 2 could not verify.
func (v Verdict) ExitCode() int {
	switch v {
	case VerdictReconciled:
		return 0
	case VerdictDiscrepancies:
		return 1
	default:
		return 2
	}
}

// Amount is a number of envelopes (or shares) and their value in cents.
type Amount struct {
	Count uint64 `json:"count"`
	Cents uint64 `json:"cents"`
}

func (a *Amount) add(cents uint32) {
	a.Count++
	a.Cents += uint64(cents)
}

func (a *Amount) plus(b Amount) {
	a.Count += b.Count
	a.Cents += b.Cents
}

// Totals is one figure per side and kind.
type Totals struct {
	Server ServerSide `json:"server"`
	Client ClientSide `json:"client"`
}

// ServerSide is what the servers' ledgers and counters say.
type ServerSide struct {
	Issued   Amount         `json:"issued"`   // shake envelopes released into pools (issue records)
	Granted  Amount         `json:"granted"`  // shake envelopes granted (grant records)
	InPools  Amount         `json:"in_pools"` // left in pools, from the admin stats
	Sent     Amount         `json:"sent"`     // sent envelopes created (send records)
	Notified uint64         `json:"notified"` // ENVELOPE frames written (notify records)
	Opened   Amount         `json:"opened"`   // shares paid (open records)
	Requests ServerRequests `json:"requests"`
}

// ClientSide is what the agents' ledgers and counters say.
type ClientSide struct {
	Received Amount         `json:"received"` // SHAKE_RESP 14 received (grant records)
	Notified uint64         `json:"notified"` // ENVELOPE frames received (notify records)
	Opened   Amount         `json:"opened"`   // OPEN_RESP with a share received (open records)
	Requests ClientRequests `json:"requests"`
}

// ServerRequests sums ledger.ServerUser.
type ServerRequests struct {
	Shake      uint64 `json:"shake"`
	Got        uint64 `json:"got"`
	None       uint64 `json:"none"`
	Overloaded uint64 `json:"overloaded"`
	Open       uint64 `json:"open"`
}

// ClientRequests sums ledger.ClientUser.
type ClientRequests struct {
	Shake        uint64 `json:"shake"`
	Got          uint64 `json:"got"`
	None         uint64 `json:"none"`
	Overloaded   uint64 `json:"overloaded"`
	Lost         uint64 `json:"lost"`
	Pending      uint64 `json:"pending"`
	Unanswered   uint64 `json:"unanswered"`
	Skipped      uint64 `json:"skipped"`
	OpenSent     uint64 `json:"open_sent"`
	OpenAnswered uint64 `json:"open_answered"`
}

// ServerSummary is one server's figures.
type ServerSummary struct {
	Name       string     `json:"name"`
	ClientOnly bool       `json:"client_only"`
	Stats      *PoolStats `json:"stats,omitempty"`
	Server     ServerSide `json:"server"`
	Client     ClientSide `json:"client"`
}

// Unknown counts outcomes that no ledger settles. The first group is what
// the clients reported as unknown; the second is how much of it the
// servers' figures used: each is within the per-user bound, or a
// discrepancy was reported instead.
type Unknown struct {
	Lost                 uint64 `json:"lost"`                   // SHAKEs pending when their connection closed
	Pending              uint64 `json:"pending"`                // SHAKEs still awaited at the cut
	Unanswered           uint64 `json:"unanswered"`             // SHAKE timeouts (events; late answers are also counted by result)
	OpensUnanswered      uint64 `json:"opens_unanswered"`       // OPENs sent and never answered
	AfterCheckpointBound uint64 `json:"after_checkpoint_bound"` // requests after a crash checkpoint, as bounded by the agents
	AfterCheckpointUsed  uint64 `json:"after_checkpoint_used"`  // of which the servers' figures needed

	ShakesUnacknowledged    uint64 `json:"shakes_unacknowledged"`    // SHAKEs servers received beyond the answers clients counted
	ResultsUnreceived       uint64 `json:"results_unreceived"`       // SHAKE_RESPs servers sent that clients never counted
	GrantsUnreceived        Amount `json:"grants_unreceived"`        // envelopes servers granted whose SHAKE_RESP clients never got
	NotificationsUnreceived uint64 `json:"notifications_unreceived"` // ENVELOPEs servers wrote that clients never got
	RecipientsNotNotified   uint64 `json:"recipients_not_notified"`  // recipients gone before their ENVELOPE was written
	OpensUnreceived         Amount `json:"opens_unreceived"`         // shares servers paid whose OPEN_RESP clients never got
}

// Discrepancy is one fault: a figure the two sides (or a side and its own
// stats) disagree on beyond what unknown outcomes can explain. What
// ServerValue and ClientValue hold depends on Kind (docs/ledgers.md, "Discrepancy kinds").
type Discrepancy struct {
	Kind        Kind    `json:"kind"`
	Server      string  `json:"server"`
	Agent       string  `json:"agent,omitempty"` // the agent whose record is involved, when one is
	Env         *uint32 `json:"env,omitempty"`   // absent for per-user and per-server kinds
	UID         *uint32 `json:"uid,omitempty"`   // absent for per-envelope and per-server kinds
	ServerValue int64   `json:"server_value"`
	ClientValue int64   `json:"client_value"`
	Detail      string  `json:"detail"`
}

// Kind names a class of discrepancy.
type Kind string

// Shake envelope kinds.
const (
	KindDuplicateID        Kind = "duplicate_id"         // an envelope id issued or sent more than once by one server
	KindGrantNotIssued     Kind = "grant_not_issued"     // a grant of an envelope the server never issued
	KindGrantNotAsIssued   Kind = "grant_not_as_issued"  // the server granted another amount than it issued
	KindGrantedTwice       Kind = "granted_twice"        // one envelope granted more than once
	KindGrantMissingClient Kind = "grant_missing_client" // server granted, client never received, beyond the user's unknown outcomes
	KindGrantMissingServer Kind = "grant_missing_server" // client received a grant of an issued envelope the server never journaled
	KindGrantAmount        Kind = "grant_amount"         // the two sides disagree on a grant's amount
	KindGrantUID           Kind = "grant_uid"            // the two sides disagree on who got an envelope
	KindPoolBalance        Kind = "pool_balance"         // the stats break issued = granted + pool
	KindIssuedStats        Kind = "issued_stats"         // the stats and the journal disagree on what was issued
	KindGrantedStats       Kind = "granted_stats"        // the stats and the ledgers disagree on what was granted
)

// Sent envelope kinds.
const (
	KindNotSent              Kind = "not_sent"               // a notification or open of an envelope the server never sent
	KindSharesExceed         Kind = "shares_exceed"          // the shares of an envelope sum above its amount
	KindSharesShort          Kind = "shares_short"           // every recipient opened, the shares sum below the amount
	KindPaidTwice            Kind = "paid_twice"             // one recipient paid more than once for one envelope
	KindOpenNotRecipient     Kind = "open_not_recipient"     // a share paid to a uid that is not a recipient
	KindOpenMissingClient    Kind = "open_missing_client"    // server paid, client never received, beyond the user's unanswered OPENs
	KindOpenMissingServer    Kind = "open_missing_server"    // client received a share the server never journaled
	KindOpenAmount           Kind = "open_amount"            // the two sides disagree on a share
	KindNotifyNotRecipient   Kind = "notify_not_recipient"   // an ENVELOPE to a uid not among the recipients
	KindRecipientNotNotified Kind = "recipient_not_notified" // a recipient nobody notified, beyond the user's unknown outcomes
	KindNotifyMissingClient  Kind = "notify_missing_client"  // server notified, client never received, beyond the user's unknown outcomes
	KindNotifyMissingServer  Kind = "notify_missing_server"  // client received an ENVELOPE the server never journaled
	KindNotifyContent        Kind = "notify_content"         // an ENVELOPE's amount or recipients differ from the send
)

// Request kinds, per user.
const (
	KindShakeCount   Kind = "shake_count"   // SHAKEs received by the server outside [acknowledged, attempted]
	KindShakeResults Kind = "shake_results" // SHAKE_RESPs by result outside [received, received + unknown]
	KindOpenCount    Kind = "open_count"    // OPENs received by the server outside [answered, sent]
)

// Check names a check that Skipped may list.
type Check string

const (
	CheckPoolBalance   Check = "pool_balance"        // issued = granted + left in pools
	CheckGrantsMatch   Check = "grants_match"        // server grants = client grants
	CheckGrantsIssued  Check = "grants_issued"       // every grant was issued
	CheckRecipients    Check = "recipients_notified" // every recipient notified, and only recipients
	CheckOpensMatch    Check = "opens_match"         // server opens = client opens, shares vs the send
	CheckShakeRequests Check = "shake_requests"      // SHAKE and SHAKE_RESP counts per user
	CheckOpenRequests  Check = "open_requests"       // OPEN counts per user
)

// Skipped is a check that could not run for one server.
type Skipped struct {
	Server string `json:"server"`
	Check  Check  `json:"check"`
	Reason string `json:"reason"`
}
