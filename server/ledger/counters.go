package ledger

// ServerUser is the server's per-user request counters, one JSON line per
// uid in GET /v1/users: SHAKEs received, SHAKE_RESPs sent by result, OPENs
// received.
type ServerUser struct {
	UID        uint32 `json:"uid"`
	Shake      uint64 `json:"shake"`
	Got        uint64 `json:"got"`
	None       uint64 `json:"none"`
	Overloaded uint64 `json:"overloaded"`
	Open       uint64 `json:"open"`
}

// ClientUser is an agent's per-user request counters. Every SHAKE sent ends
// in exactly one of: a result received (Got, None, Overloaded), Lost (its
// connection closed before an answer) or Pending (still awaited when the
// counters were taken). Unanswered counts the SHAKEs that passed the
// timeout; an answer may still arrive later and is then counted by result
// too, so Unanswered is a count of timeouts, not an outcome.
type ClientUser struct {
	UID          uint32 `json:"uid"`
	Srv          string `json:"srv,omitempty"`
	Shake        uint64 `json:"shake"`
	Got          uint64 `json:"got"`
	None         uint64 `json:"none"`
	Overloaded   uint64 `json:"overloaded"`
	Lost         uint64 `json:"lost"`
	Pending      uint64 `json:"pending"`
	Unanswered   uint64 `json:"unanswered"`
	Skipped      uint64 `json:"skipped"` // fires skipped after an overloaded answer
	OpenSent     uint64 `json:"open_sent"`
	OpenAnswered uint64 `json:"open_answered"`
}
