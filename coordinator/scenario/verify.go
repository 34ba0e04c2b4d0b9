package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
)

// Verifier is the coordinator's ledger verification (*client.Client).
type Verifier interface {
	Verify(ctx context.Context, r api.VerifyRequest) (*api.VerifyResponse, error)
}

// maxShown bounds the discrepancies a verify step prints in full; all are
// in the coordinator's verify.json.
const maxShown = 10

// CoordinatorVerify is the VerifyFunc that asks the coordinator to
// quiesce, collect every ledger and reconcile (POST /v1/verify); the
// coordinator also writes verify.json, which the HTML report reads.
func CoordinatorVerify(v Verifier, req api.VerifyRequest) VerifyFunc {
	return func(ctx context.Context) (*VerifyResult, error) {
		resp, err := v.Verify(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("verify ledger: %w", err)
		}
		return verifyResult(resp), nil
	}
}

func verifyResult(resp *api.VerifyResponse) *VerifyResult {
	res := &VerifyResult{Verdict: string(checks.VerdictIncomplete)}
	var b strings.Builder
	if rep := resp.Report; rep != nil {
		res.Verdict = string(rep.Verdict)
		for _, n := range rep.DiscrepancyCounts {
			res.Discrepancies += int64(n)
		}
		s, c := rep.Totals.Server, rep.Totals.Client
		fmt.Fprintf(&b, "  %-24s %10s %12s   %10s %12s\n", "", "server", "cents", "client", "cents")
		row := func(name string, sv, cv *checks.Amount) {
			fmt.Fprintf(&b, "  %-24s %10d %12d", name, sv.Count, sv.Cents)
			if cv != nil {
				fmt.Fprintf(&b, "   %10d %12d", cv.Count, cv.Cents)
			}
			fmt.Fprintln(&b)
		}
		row("shake issued", &s.Issued, nil)
		row("shake granted / received", &s.Granted, &c.Received)
		row("shake left in pools", &s.InPools, nil)
		row("send envelopes", &s.Sent, nil)
		row("send shares opened", &s.Opened, &c.Opened)
		fmt.Fprintf(&b, "  %-24s %10d %12s   %10d\n", "SHAKE requests", s.Requests.Shake, "", c.Requests.Shake)
		for i, d := range rep.Discrepancies {
			if i == maxShown {
				fmt.Fprintf(&b, "  ... %d more (verify.json in the coordinator's data dir has them all)\n", res.Discrepancies-maxShown)
				break
			}
			fmt.Fprintf(&b, "  discrepancy %s server=%s%s server_value=%d client_value=%d %s\n",
				d.Kind, d.Server, ids(d), d.ServerValue, d.ClientValue, d.Detail)
		}
	}
	if resp.ExitCode == 2 && res.Verdict == string(checks.VerdictReconciled) {
		res.Verdict = string(checks.VerdictIncomplete)
	}
	for _, p := range resp.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	res.Summary = b.String()
	return res
}

func ids(d checks.Discrepancy) string {
	var s string
	if d.Env != nil {
		s += fmt.Sprintf(" env=%d", *d.Env)
	}
	if d.UID != nil {
		s += fmt.Sprintf(" uid=%d", *d.UID)
	}
	return s
}
