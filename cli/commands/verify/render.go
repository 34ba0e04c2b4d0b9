package verify

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/hbctl/hbctl/checks"
	"github.com/hbctl/hbctl/coordinator/api"
)

// Render prints the totals of both sides, every discrepancy (the first
// ShownInFull in full, the rest counted by kind), the checks that could
// not run, the problems, and one verdict line.
func Render(w io.Writer, resp *api.VerifyResponse) {
	rep := resp.Report
	if rep == nil {
		rep = &checks.Report{Verdict: checks.VerdictIncomplete}
	}
	if len(rep.Servers) == 0 && len(resp.Problems) > 0 {
		// Nothing was reconciled: no figure to show, rather than zeros.
		fmt.Fprintln(w, "no figures: the ledgers were not reconciled (see below)")
		renderEnd(w, resp, rep)
		return
	}
	s, c := &rep.Totals.Server, &rep.Totals.Client
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tserver count\tserver cents\tclient count\tclient cents\t")
	amt := func(kind string, sa *checks.Amount, ca *checks.Amount) {
		row := kind + "\t"
		if sa != nil {
			row += fmt.Sprintf("%d\t%d\t", sa.Count, sa.Cents)
		} else {
			row += "-\t-\t"
		}
		if ca != nil {
			row += fmt.Sprintf("%d\t%d\t", ca.Count, ca.Cents)
		} else {
			row += "-\t-\t"
		}
		fmt.Fprintln(tw, row)
	}
	cnt := func(kind string, sv, cv uint64) {
		fmt.Fprintf(tw, "%s\t%d\t\t%d\t\t\n", kind, sv, cv)
	}
	amt("shake issued", &s.Issued, nil)
	amt("shake granted/received", &s.Granted, &c.Received)
	amt("shake in pools", &s.InPools, nil)
	amt("sent", &s.Sent, nil)
	cnt("notified", s.Notified, c.Notified)
	amt("opened", &s.Opened, &c.Opened)
	cnt("SHAKE", s.Requests.Shake, c.Requests.Shake)
	cnt("result got", s.Requests.Got, c.Requests.Got)
	cnt("result none", s.Requests.None, c.Requests.None)
	cnt("result overloaded", s.Requests.Overloaded, c.Requests.Overloaded)
	cnt("OPEN (client: answered)", s.Requests.Open, c.Requests.OpenAnswered)
	tw.Flush()

	u := &rep.Unknown
	fmt.Fprintf(w, "\nunknown outcomes: lost %d, pending %d, unanswered %d, opens unanswered %d, after-checkpoint %d (used %d)\n",
		u.Lost, u.Pending, u.Unanswered, u.OpensUnanswered, u.AfterCheckpointBound, u.AfterCheckpointUsed)
	fmt.Fprintf(w, "  excused: SHAKEs unacknowledged %d, results unreceived %d, grants unreceived %d (%d cents), ENVELOPEs unreceived %d, recipients not notified %d, shares unreceived %d (%d cents)\n",
		u.ShakesUnacknowledged, u.ResultsUnreceived, u.GrantsUnreceived.Count, u.GrantsUnreceived.Cents,
		u.NotificationsUnreceived, u.RecipientsNotNotified, u.OpensUnreceived.Count, u.OpensUnreceived.Cents)
	if u.ConnectionLosses > 0 || u.NotificationsLostOnReset > 0 {
		fmt.Fprintf(w, "  churn: %d connection losses, %d logins; ENVELOPEs a reset could have swallowed %d\n",
			u.ConnectionLosses, u.Logins, u.NotificationsLostOnReset)
	}
	if u.ServerCountsBound > 0 {
		fmt.Fprintf(w, "  server crash windows: counters may miss %d requests (used %d)\n", u.ServerCountsBound, u.ServerCountsUsed)
	}
	if q := &resp.Quiesce; q.Rounds > 0 {
		fmt.Fprintf(w, "quiesced: rate %d -> 0 at unix %d, restored %t, pending at the cut %d, %d collection rounds, %d ms in all\n",
			q.PreviousRate, q.RateZeroAt, q.Restored, q.PendingAtCut, q.Rounds, resp.DurationMillis)
	}
	renderEnd(w, resp, rep)
}

// renderEnd prints the discrepancies, the checks not run, the problems and
// the verdict.
func renderEnd(w io.Writer, resp *api.VerifyResponse, rep *checks.Report) {

	var total uint64
	for _, n := range rep.DiscrepancyCounts {
		total += n
	}
	if total > 0 {
		fmt.Fprintf(w, "\n%d discrepancies:\n", total)
		for i := range rep.Discrepancies[:min(len(rep.Discrepancies), ShownInFull)] {
			fmt.Fprintf(w, "  %s\n", describe(&rep.Discrepancies[i]))
		}
		if total > ShownInFull {
			fmt.Fprintf(w, "  ... %d more; by kind:\n", total-uint64(min(len(rep.Discrepancies), ShownInFull)))
		}
		for _, k := range slices.Sorted(maps.Keys(rep.DiscrepancyCounts)) {
			fmt.Fprintf(w, "  %-24s %d\n", k, rep.DiscrepancyCounts[k])
		}
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "\nchecks not run:")
		for _, sk := range rep.Skipped {
			fmt.Fprintf(w, "  %s %s: %s\n", sk.Server, sk.Check, sk.Reason)
		}
	}
	if len(resp.Problems) > 0 {
		fmt.Fprintln(w, "\ncould not verify:")
		for _, p := range resp.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "\nverdict: %s (exit %d)\n", outcome(resp), resp.ExitCode)
}

// outcome is the verdict in words, saying when partial results passed.
func outcome(resp *api.VerifyResponse) string {
	if resp.Report == nil {
		return string(checks.VerdictIncomplete)
	}
	v := string(resp.Report.Verdict)
	if resp.Report.Verdict == checks.VerdictIncomplete && resp.ExitCode == 0 {
		v += ", accepted with --allow-partial"
	}
	return v
}

func describe(d *checks.Discrepancy) string {
	s := fmt.Sprintf("%-22s server=%s", d.Kind, d.Server)
	if d.Agent != "" {
		s += " agent=" + d.Agent
	}
	if d.Env != nil {
		s += fmt.Sprintf(" env=%d", *d.Env)
	}
	if d.UID != nil {
		s += fmt.Sprintf(" uid=%d", *d.UID)
	}
	return s + fmt.Sprintf(" server=%d client=%d: %s", d.ServerValue, d.ClientValue, d.Detail)
}
