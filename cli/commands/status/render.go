package status

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

// Render writes st as text tables.
func Render(w io.Writer, st api.Status) error {
	now := time.UnixMilli(st.Now)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if st.Plan.Active {
		fmt.Fprintf(tw, "plan %d\trate %d/s\tusers %d\tconnections %d/%d\tfailed %d\tclosed %d\n",
			st.Plan.ID, st.Plan.Rate, st.Plan.Users, st.Connections.Established, st.Connections.Target,
			st.Connections.Failed, st.Connections.Closed)
		for _, s := range st.Plan.Segments {
			if s.T*1000 > st.Now {
				fmt.Fprintf(tw, "  next: %d/s at %s (in %s)\n", s.Q, time.Unix(s.T, 0).UTC().Format(time.TimeOnly),
					time.Unix(s.T, 0).Sub(now).Round(100*time.Millisecond))
			}
		}
	} else {
		fmt.Fprintf(tw, "no plan\tconnections %d\n", st.Connections.Established)
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "AGENT\tSTATE\tUSERS\tCONNS\tOFFSET\tDELAY\tSEEN\tPLAN")
	for _, a := range st.Agents {
		state := "alive"
		if !a.Alive {
			state = "DEAD"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%+.3fms\t%.3fms\t%s ago\t%d\n", a.Name, state, a.Users, a.Conns,
			a.OffsetMs, a.DelayMs, now.Sub(time.UnixMilli(a.LastSeenMs)).Round(100*time.Millisecond), a.PlanID)
	}
	if len(st.Agents) == 0 {
		fmt.Fprintln(tw, "(no agents registered)")
	}
	fmt.Fprintln(tw)

	// SERVER is what the target servers counted arriving (their admin
	// APIs' per-second counters), next to what the clients sent and got
	// answered.
	fmt.Fprintln(tw, "WINDOW\tTARGET\tSENT\tRECEIVED\tSERVER\tGOT\tNONE\tOVERLOADED\tMISSED\tLOST\tP50\tP90\tP99\tMAX")
	if l := st.Last; l != nil {
		row(tw, fmt.Sprintf("second %s", time.Unix(l.T, 0).UTC().Format(time.TimeOnly)), fmt.Sprint(l.Target), l.Counters, l.ServerReceived, l.Shake)
	}
	row(tw, "run", "", st.Run.Counters, nil, st.Run.Shake)
	if st.ServerStatsErrors > 0 {
		fmt.Fprintf(tw, "server stats polls failed: %d (see the coordinator's log)\n", st.ServerStatsErrors)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "OPEN\tSENT\tANSWERED\tP50\tP90\tP99\tMAX")
	fmt.Fprintf(tw, "run\t%d\t%d\t%s\n", st.Run.OpenSent, st.Run.OpenAnswered, lat(st.Run.Open))
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "envelopes\tgranted %d (%s)\topened %d (%s)\tunanswered %d\tskipped %d\n",
		st.Run.Got, yuan(st.Run.GrantAmount), st.Run.OpenAnswered, yuan(st.Run.OpenAmount), st.Run.Unanswered, st.Run.Skipped)
	for _, r := range st.Releases {
		line := fmt.Sprintf("release	%s %s	%d of %d	%s", r.Admin, r.Kind, r.Done, r.Total, r.State)
		if r.Why != "" {
			line += " (" + r.Why + ")"
		}
		fmt.Fprintln(tw, line)
	}
	renderTelemetry(tw, st.Telemetry)
	if n := len(st.Events); n > 0 {
		fmt.Fprintln(tw)
		for _, e := range st.Events[max(0, n-5):] {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", time.UnixMilli(e.T).UTC().Format("15:04:05.000"), e.Kind, describe(e))
		}
	}
	return tw.Flush()
}

func row(w io.Writer, name, target string, c api.Counters, server *int64, p api.Percentiles) {
	srv := "-"
	if server != nil {
		srv = fmt.Sprint(*server)
	}
	fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", name, target, c.Sent, c.Received, srv, c.Got, c.None,
		c.Overloaded, c.Missed, c.Lost, lat(p))
}

func lat(p api.Percentiles) string {
	if p.Count == 0 {
		return "-\t-\t-\t-"
	}
	return fmt.Sprintf("%.2fms\t%.2fms\t%.2fms\t%.2fms", p.P50, p.P90, p.P99, p.Max)
}

func yuan(cents int64) string { return fmt.Sprintf("¥%d.%02d", cents/100, cents%100) }

func describe(e api.Event) string {
	s := e.Agent
	if e.Kind == "qps" {
		s = fmt.Sprintf("%d/s from %s", e.Q, time.Unix(e.At, 0).UTC().Format(time.TimeOnly))
	}
	if e.Detail != "" {
		if s != "" {
			s += ": "
		}
		s += e.Detail
	}
	return s
}
