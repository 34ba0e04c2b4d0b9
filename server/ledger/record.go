package ledger

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Event kinds, the "ev" field of a record.
const (
	EvIssue  = "issue"  // server: a shake envelope released into a pool
	EvGrant  = "grant"  // server: granted to uid; agent: SHAKE_RESP 14 received
	EvSend   = "send"   // server: a sent envelope created for recipients
	EvNotify = "notify" // server: ENVELOPE written to uid; agent: ENVELOPE received
	EvOpen   = "open"   // server: share paid to uid; agent: OPEN_RESP received
)

// Record is one journal line. Which fields a line carries depends on Ev:
//
//	issue  {"ev":"issue","env":ID,"amount":A,"t":MS}
//	grant  {"ev":"grant","env":ID,"uid":U,"amount":A,"t":MS}
//	send   {"ev":"send","env":ID,"amount":A,"to":[U1,U2,U3],"t":MS}
//	notify {"ev":"notify","env":ID,"uid":U,"t":MS}                      (server)
//	notify {"ev":"notify","env":ID,"uid":U,"to":[..],"amount":A,"t":MS} (agent)
//	open   {"ev":"open","env":ID,"uid":U,"amount":S,"t":MS}
//
// Agents, which may talk to several servers, add "srv" (the server's
// address) so that envelopes are keyed by (server, env) as docs/protocol.md asks.
type Record struct {
	Ev     string   `json:"ev"`
	Env    uint32   `json:"env"`
	UID    uint32   `json:"uid"`
	Amount uint32   `json:"amount"`
	To     []uint32 `json:"to,omitempty"`
	T      int64    `json:"t"` // Unix milliseconds
	Srv    string   `json:"srv,omitempty"`
}

// AppendJSON encodes r as one JSON line (with its newline) onto dst, with
// exactly the fields of its kind. It does not allocate beyond growing dst.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"ev":"`...)
	dst = append(dst, r.Ev...)
	dst = append(dst, `","env":`...)
	dst = strconv.AppendUint(dst, uint64(r.Env), 10)
	switch r.Ev {
	case EvIssue:
		dst = appendAmount(dst, r.Amount)
	case EvGrant, EvOpen:
		dst = appendUID(dst, r.UID)
		dst = appendAmount(dst, r.Amount)
	case EvSend:
		dst = appendAmount(dst, r.Amount)
		dst = appendTo(dst, r.To)
	case EvNotify:
		dst = appendUID(dst, r.UID)
		if r.To != nil {
			dst = appendTo(dst, r.To)
			dst = appendAmount(dst, r.Amount)
		}
	}
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, r.T, 10)
	if r.Srv != "" {
		dst = append(dst, `,"srv":`...)
		dst = strconv.AppendQuote(dst, r.Srv)
	}
	return append(dst, "}\n"...)
}

func appendUID(dst []byte, uid uint32) []byte {
	dst = append(dst, `,"uid":`...)
	return strconv.AppendUint(dst, uint64(uid), 10)
}

func appendAmount(dst []byte, a uint32) []byte {
	dst = append(dst, `,"amount":`...)
	return strconv.AppendUint(dst, uint64(a), 10)
}

func appendTo(dst []byte, to []uint32) []byte {
	dst = append(dst, `,"to":[`...)
	for i, u := range to {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(u), 10)
	}
	return append(dst, ']')
}

// ParseLine decodes one journal line (without or with its newline) and
// checks that it names a known event kind.
func ParseLine(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("ledger: bad record: %w", err)
	}
	switch r.Ev {
	case EvIssue, EvGrant, EvSend, EvNotify, EvOpen:
		return r, nil
	default:
		return r, fmt.Errorf("ledger: unknown event %q", r.Ev)
	}
}
