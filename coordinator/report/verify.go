package report

import (
	"encoding/json"
	"fmt"

	"github.com/hbctl/hbctl/coordinator/runrecord"
)

// VerifyFile is the verdict `hbctl verify ledger` leaves in the data dir.
const VerifyFile = runrecord.VerifyFile

// Verify is the last verification of the ledgers, as far as the report
// shows it.
type Verify struct {
	Verdict       string
	Discrepancies int64
	// Totals are the ledgers' figures, when the verdict carries them.
	Totals *VerifyTotals
}

// VerifyTotals are the envelope figures of both sides' ledgers.
type VerifyTotals struct {
	Server struct {
		Issued  Amount `json:"issued"`
		Granted Amount `json:"granted"`
		InPools Amount `json:"in_pools"`
		Sent    Amount `json:"sent"`
		Opened  Amount `json:"opened"`
	} `json:"server"`
	Client struct {
		Received Amount `json:"received"`
		Opened   Amount `json:"opened"`
	} `json:"client"`
}

// Amount is a number of envelopes or shares and their value in cents.
type Amount struct {
	Count int64 `json:"count"`
	Cents int64 `json:"cents"`
}

// parseVerify reads a verdict loosely: the document is written by another
// command and only "verdict" is required. "discrepancies" is either a
// number or the list of discrepancies; "truncated" and
// "discrepancy_counts" complete a list cut short.
func parseVerify(b []byte) (*Verify, error) {
	var raw struct {
		Verdict       *string          `json:"verdict"`
		Discrepancies json.RawMessage  `json:"discrepancies"`
		Counts        map[string]int64 `json:"discrepancy_counts"`
		Truncated     int64            `json:"truncated"`
		Totals        *VerifyTotals    `json:"totals"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", VerifyFile, err)
	}
	if raw.Verdict == nil || *raw.Verdict == "" {
		return nil, fmt.Errorf("parse %s: no verdict", VerifyFile)
	}
	v := &Verify{Verdict: *raw.Verdict, Totals: raw.Totals}
	if len(raw.Discrepancies) > 0 && string(raw.Discrepancies) != "null" {
		var n int64
		var list []json.RawMessage
		switch {
		case json.Unmarshal(raw.Discrepancies, &n) == nil:
			v.Discrepancies = n
		case json.Unmarshal(raw.Discrepancies, &list) == nil:
			v.Discrepancies = int64(len(list)) + raw.Truncated
		default:
			return nil, fmt.Errorf("parse %s: discrepancies is neither a number nor a list", VerifyFile)
		}
	}
	var sum int64
	for _, c := range raw.Counts {
		sum += c
	}
	v.Discrepancies = max(v.Discrepancies, sum)
	return v, nil
}
