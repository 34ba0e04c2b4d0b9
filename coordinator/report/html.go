package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"time"

	"github.com/hbctl/hbctl/coordinator/api"
)

//go:embed report.html.tmpl
var pageSource string

var pageTmpl = template.Must(template.New("report").Parse(pageSource))

// page is the template's view of a report: numbers already formatted, so
// the template only places them.
type page struct {
	Title     string
	DataDir   string
	Start     string
	End       string
	Duration  string
	Generated string
	Verdict   verdictView
	Charts    []chartView
	Phases    []phaseView
	Latency   []latencyView
	// LatencyExact: Latency was read off the merged run histogram.
	LatencyExact bool
	Envelopes    []envelopeRow
	Requests     []kv
	Events       []eventView
	Warnings     []string
	HasNIC       bool
}

type chartView struct {
	Name, Title string
	SVG         template.HTML
}

type verdictView struct {
	Text  string
	Class string // ok, bad, none
	Note  string
}

type phaseView struct {
	Target, From, To, Seconds, MeanSent, MeanReceived, MeanAbsErr, WorstErr, WorstAt, WorstP99 string
	// MeanServer and WorstServer are the servers' SHAKE arrivals: mean per
	// second and worst |server-target|/target with its second, "—" when
	// unknown.
	MeanServer, WorstServer string
}

type latencyView struct {
	Name, Lo, Hi string
	Exact        bool
}

type envelopeRow struct {
	What, Agents, Server, Client string
}

type kv struct{ K, V string }

type eventView struct {
	At, Kind, Agent, Detail string
}

// WriteHTML writes the report as one self-contained HTML document.
func (r *Report) WriteHTML(w io.Writer) error {
	p := r.view()
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *Report) view() page {
	start := r.Start()
	x0, _ := r.span()
	rel := func(unix float64) string { return clock(unix - x0) }
	p := page{
		Title:     "hbctl run report " + start.UTC().Format("2006-01-02 15:04:05Z"),
		DataDir:   r.DataDir,
		Start:     start.UTC().Format(time.RFC3339),
		End:       r.End().UTC().Format(time.RFC3339),
		Duration:  r.End().Sub(start).String(),
		Generated: time.Now().UTC().Format(time.RFC3339),
		Warnings:  r.Warnings,
		HasNIC:    len(r.NIC) > 0,
	}
	for _, c := range r.Charts() {
		p.Charts = append(p.Charts, chartView{Name: c.Name, Title: c.Title, SVG: c.SVG()})
	}
	switch v := r.Verify; {
	case v == nil:
		p.Verdict = verdictView{Text: "not verified", Class: "none", Note: "no verify.json in the data dir: run hbctl verify ledger"}
	case v.Verdict == "reconciled" && v.Discrepancies == 0:
		p.Verdict = verdictView{Text: v.Verdict, Class: "ok", Note: "every check ran and found nothing"}
	default:
		p.Verdict = verdictView{Text: v.Verdict, Class: "bad", Note: fmt.Sprintf("%d discrepancies", v.Discrepancies)}
	}
	for _, ph := range r.Phases {
		p.Phases = append(p.Phases, phaseView{
			Target:       fmt.Sprintf("%d/s", ph.Target),
			From:         rel(float64(ph.From)),
			To:           rel(float64(ph.To + 1)),
			Seconds:      fmt.Sprint(ph.Seconds),
			MeanSent:     fmt.Sprintf("%.1f/s", ph.MeanSent),
			MeanReceived: fmt.Sprintf("%.1f/s", ph.MeanReceived),
			MeanAbsErr:   pct(ph.MeanAbsErr, false),
			WorstErr:     pct(ph.WorstErr, true),
			WorstAt:      rel(float64(ph.WorstAt)),
			WorstP99:     ms(ph.WorstP99),
		})
		pv := &p.Phases[len(p.Phases)-1]
		if ph.WorstP99 == 0 {
			pv.WorstP99 = "—"
		}
		pv.MeanServer, pv.WorstServer = "—", "—"
		if ph.ServerSeconds > 0 {
			pv.MeanServer = fmt.Sprintf("%.1f/s", ph.MeanServer)
			pv.WorstServer = pct(ph.WorstServerErr, false) + " at " + rel(float64(ph.WorstServerAt))
			if ph.ServerSeconds < ph.Seconds {
				pv.MeanServer += fmt.Sprintf(" (%d of %d s)", ph.ServerSeconds, ph.Seconds)
			}
		}
	}
	for _, l := range []struct {
		name string
		b    Bounds
	}{{"TP50", r.TP50}, {"TP90", r.TP90}, {"TP99", r.TP99}, {"TP99.9", r.TP999}} {
		lv := latencyView{Name: l.name, Lo: "—", Hi: "—", Exact: l.b.Exact}
		if l.b.OK {
			lv.Lo, lv.Hi = ms(l.b.Lo), ms(l.b.Hi)
		}
		p.Latency = append(p.Latency, lv)
		p.LatencyExact = l.b.Exact
	}
	p.Envelopes = r.envelopeRows()
	t := r.Totals
	p.Requests = []kv{
		{"SHAKEs sent", fmt.Sprint(t.Sent)},
		{"SHAKE answers received", fmt.Sprint(t.Received)},
		{"got an envelope (14)", fmt.Sprint(t.Got)},
		{"none left (15, 16)", fmt.Sprint(t.None)},
		{"overloaded (17)", fmt.Sprint(t.Overloaded)},
		{"missed fires", fmt.Sprint(t.Missed)},
		{"skipped fires", fmt.Sprint(t.Skipped)},
		{"unanswered (timeouts)", fmt.Sprint(t.Unanswered)},
		{"lost on closed connections", fmt.Sprint(t.Lost)},
		{"OPENs sent / answered", fmt.Sprintf("%d / %d", t.OpenSent, t.OpenAnswered)},
	}
	for _, e := range r.Events {
		p.Events = append(p.Events, eventView{At: rel(float64(e.T) / 1000), Kind: e.Kind, Agent: e.Agent, Detail: eventDetail(e)})
	}
	return p
}

// envelopeRows puts the agents' timeline counters beside both ledgers'
// figures from the last verification.
func (r *Report) envelopeRows() []envelopeRow {
	t := r.Totals
	dash := "—"
	rows := []envelopeRow{
		{What: "shake envelopes granted", Agents: fmt.Sprint(t.Got), Server: dash, Client: dash},
		{What: "shake cents granted", Agents: fmt.Sprint(t.GrantAmount), Server: dash, Client: dash},
		{What: "sent-envelope shares opened", Agents: fmt.Sprint(t.OpenAnswered), Server: dash, Client: dash},
		{What: "sent-envelope cents opened", Agents: fmt.Sprint(t.OpenAmount), Server: dash, Client: dash},
		{What: "shake envelopes issued (in pools)", Agents: dash, Server: dash, Client: dash},
		{What: "envelopes sent (cents)", Agents: dash, Server: dash, Client: dash},
	}
	if v := r.Verify; v != nil && v.Totals != nil {
		s, c := v.Totals.Server, v.Totals.Client
		rows[0].Server, rows[0].Client = fmt.Sprint(s.Granted.Count), fmt.Sprint(c.Received.Count)
		rows[1].Server, rows[1].Client = fmt.Sprint(s.Granted.Cents), fmt.Sprint(c.Received.Cents)
		rows[2].Server, rows[2].Client = fmt.Sprint(s.Opened.Count), fmt.Sprint(c.Opened.Count)
		rows[3].Server, rows[3].Client = fmt.Sprint(s.Opened.Cents), fmt.Sprint(c.Opened.Cents)
		rows[4].Server = fmt.Sprintf("%d (%d left)", s.Issued.Count, s.InPools.Count)
		rows[5].Server = fmt.Sprintf("%d (%d cents)", s.Sent.Count, s.Sent.Cents)
	}
	return rows
}

func eventDetail(e api.Event) string {
	d := e.Detail
	if e.Kind == "qps" || e.Kind == "replan" {
		if d != "" {
			d += "; "
		}
		d += fmt.Sprintf("%d/s from %s", e.Q, time.Unix(e.At, 0).UTC().Format("15:04:05Z"))
	}
	return d
}

func pct(f float64, signed bool) string {
	if signed {
		return fmt.Sprintf("%+.2f%%", f*100)
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

func ms(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}
