package report

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// copyFixture copies the fixture's files (all, or those named) into a
// temporary data dir.
func copyFixture(t *testing.T, names ...string) string {
	t.Helper()
	if len(names) == 0 {
		names = []string{runrecord.TimelineFile, telemetry.MetricsFile, VerifyFile}
	}
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(fixtureDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func render(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestBuildFixture(t *testing.T) {
	r, err := Build(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Seconds) != 60 || r.Seconds[0].T != fixtureT0 || r.Seconds[59].T != fixtureT0+59 {
		t.Fatalf("seconds: %d from %d", len(r.Seconds), r.Seconds[0].T)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %q", r.Warnings)
	}
	tot := r.Totals
	if tot.Sent != fixSent || tot.Received != fixReceived || tot.Got != fixGot || tot.GrantAmount != fixGrantCents ||
		tot.OpenAnswered != fixOpened || tot.OpenAmount != fixOpenCents {
		t.Errorf("totals %+v", tot)
	}

	// Two QPS phases with the fixture's per-second errors.
	want := []Phase{
		{Target: 300, From: fixtureT0 + 10, To: fixtureT0 + 29, Seconds: 20,
			MeanSent: 6003.0 / 20, MeanAbsErr: (0.01 + 0.02) / 20, WorstErr: 0.02, WorstAt: fixtureT0 + 20, WorstP99: 4},
		{Target: 600, From: fixtureT0 + 30, To: fixtureT0 + 49, Seconds: 20,
			MeanSent: 11964.0 / 20, MeanAbsErr: (0.02 + 0.05 + 0.01) / 20, WorstErr: -0.05, WorstAt: fixtureT0 + 40, WorstP99: fixWorstP99Phase},
	}
	if len(r.Phases) != len(want) {
		t.Fatalf("phases: %+v", r.Phases)
	}
	for i, w := range want {
		g := r.Phases[i]
		if g.Target != w.Target || g.From != w.From || g.To != w.To || g.Seconds != w.Seconds || g.WorstAt != w.WorstAt ||
			!near(g.MeanSent, w.MeanSent) || !near(g.MeanAbsErr, w.MeanAbsErr) || !near(g.WorstErr, w.WorstErr) || g.WorstP99 != w.WorstP99 {
			t.Errorf("phase %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	// Every second under load has p90 2.5, p99 4, p99.9 8, except 0:40
	// (p99 40): the run's TP99 is at least the common p90 and at most the
	// common p99.9, since the spike second keeps too much mass above 4.
	if b := r.TP99; !b.OK || b.Lo != 2.5 || b.Hi != 8 {
		t.Errorf("TP99 bounds %+v, want [2.5, 8]", b)
	}
	if b := r.TP90; !b.OK || b.Hi != 2.5 {
		t.Errorf("TP90 bounds %+v, want at most 2.5", b)
	}

	// NIC: three hosts; h02 at 300/s receives 200 + 100 packets a second.
	if len(r.NIC) != 3 || r.NIC[0].Host != "h01" || r.NIC[2].Host != "h03" {
		t.Fatalf("nic hosts: %+v", r.NIC)
	}
	found := false
	for _, p := range r.NIC[1].Points {
		if p.T == fixtureT0+20.5 {
			found = true
			if !near(p.RxPerS, 300) || !near(p.TxPerS, 310) {
				t.Errorf("h02 at 0:20.5: %+v, want rx 300 tx 310", p)
			}
		}
	}
	if !found {
		t.Error("h02 has no rate at 0:20.5")
	}
	// h03's counters restarted at 0:45.5: that interval has no rate.
	for _, p := range r.NIC[2].Points {
		if p.T == fixtureT0+45.5 {
			t.Errorf("h03 has a rate across its counter reset: %+v", p)
		}
		if p.RxPerS < 0 || p.TxPerS < 0 {
			t.Errorf("negative rate %+v", p)
		}
	}
	// Server counts: the timeline's where it has them (0:20 differs from
	// metrics.lp's 306), metrics.lp's after 0:49.
	if len(r.ServerReceived) != 60 || r.ServerReceived[fixtureT0+40] != 570 || r.ServerReceived[fixtureT0+20] != 304 ||
		r.ServerReceived[fixtureT0+21] != 302 {
		t.Errorf("server received: %d seconds, 0:20 = %d, 0:21 = %d, 0:40 = %d", len(r.ServerReceived),
			r.ServerReceived[fixtureT0+20], r.ServerReceived[fixtureT0+21], r.ServerReceived[fixtureT0+40])
	}
	if v, ok := r.ServerReceived[fixtureT0+55]; !ok || v != 0 {
		t.Errorf("server received at 0:55 (from metrics.lp): %d, %v", v, ok)
	}
	if p := r.Phases[0]; p.ServerSeconds != 20 || p.WorstServerAt != fixtureT0+20 || !near(p.WorstServerErr, 4.0/300) {
		t.Errorf("phase 300/s server figures: %+v", p)
	}
	if r.Verify == nil || r.Verify.Verdict != "reconciled" || r.Verify.Discrepancies != 0 || r.Verify.Totals == nil ||
		r.Verify.Totals.Server.Granted.Cents != fixGrantCents || r.Verify.Totals.Client.Opened.Count != fixOpened {
		t.Errorf("verify %+v", r.Verify)
	}
}

func TestHTMLFixture(t *testing.T) {
	r, err := Build(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	html := render(t, r)
	for _, name := range []string{ChartQPS, ChartEnvelopes, ChartLatency, ChartConnections, ChartNIC} {
		if !strings.Contains(html, `<svg class="chart" data-chart="`+name+`"`) {
			t.Errorf("chart %q missing", name)
		}
	}
	// Phase markers, on each of the five charts.
	for _, m := range []string{"connect", "qps 300", "qps 600", "qps 0", "shake", "send", "dead h03", "back h03", "replan", "disconnect"} {
		if n := strings.Count(html, `data-marker="`+m+`"`); n != 5 {
			t.Errorf("marker %q drawn %d times, want 5", m, n)
		}
	}
	if strings.Contains(html, `data-marker="agent_registered"`) {
		t.Error("registrations drawn as phase markers")
	}
	// Each chart has axes, ticks and a legend.
	if n := strings.Count(html, `class="axis"`); n != 10 {
		t.Errorf("%d axis lines, want 10", n)
	}
	for _, s := range []string{"target", "client sent", "answers received", "server received", "p50", "p90", "p99", "p99.9", "established", "h01 rx", "h03 tx"} {
		if !strings.Contains(html, `data-series="`+s+`"`) || !strings.Contains(html, `>`+s+`</text></g>`) {
			t.Errorf("series %q or its legend missing", s)
		}
	}
	// Summary figures, from the fixture's arithmetic.
	for _, want := range []string{
		`<td>300/s</td><td>0:10</td><td>0:30</td><td>20</td><td>300.1/s</td><td>300.1/s</td><td>0.15%</td><td>&#43;2.00%</td><td>0:20</td><td>300.1/s</td><td>1.33% at 0:20</td><td>4.00 ms</td>`,
		`<td>600/s</td><td>0:30</td><td>0:50</td><td>20</td><td>598.2/s</td><td>597.7/s</td><td>0.40%</td><td>-5.00%</td><td>0:40</td><td>598.2/s</td><td>5.00% at 0:40</td><td>40.0 ms</td>`,
		`<td>TP99</td><td>2.50 ms</td><td>8.00 ms</td>`,
		`<td>shake envelopes granted</td><td>400</td><td>400</td><td>400</td>`,
		`<td>shake cents granted</td><td>40000</td><td>40000</td><td>40000</td>`,
		`<td>sent-envelope cents opened</td><td>10000</td><td>10000</td><td>10000</td>`,
		`<td>SHAKEs sent</td><td>17967</td>`,
		`<div class="v">reconciled</div>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("summary lacks %s", want)
		}
	}
	// Self-contained: nothing is fetched at view time.
	if m := regexp.MustCompile(`(?i)(<script|<link|@import|url\(|src=|https?://[^"]*"[^>]*>)`).FindString(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")); m != "" {
		t.Errorf("report refers to something outside itself: %q", m)
	}
	if !strings.Contains(html, "@media print") {
		t.Error("no print style")
	}
}

func TestNotVerified(t *testing.T) {
	dir := copyFixture(t, runrecord.TimelineFile, telemetry.MetricsFile)
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	html := render(t, r)
	if r.Verify != nil || !strings.Contains(html, `<div class="v">not verified</div>`) {
		t.Error("a data dir without verify.json is not shown as not verified")
	}
	if !strings.Contains(html, `<td>shake envelopes granted</td><td>400</td><td>—</td><td>—</td>`) {
		t.Error("agents' figures missing without a verdict")
	}
}

func TestVerifyShapes(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		verdict   string
		n         int64
		bad       bool
	}{
		// The minimal document: a count.
		{"count", `{"verdict":"discrepancies","discrepancies":3}`, "discrepancies", 3, false},
		// The checks report: a list, cut short and completed by its counts.
		{"list", `{"verdict":"discrepancies","discrepancies":[{},{}],"truncated":5,"discrepancy_counts":{"a":4,"b":3}}`, "discrepancies", 7, false},
		// An empty list and no counts.
		{"empty", `{"verdict":"reconciled","discrepancies":[]}`, "reconciled", 0, false},
		// No verdict is no verification.
		{"no verdict", `{"discrepancies":0}`, "", 0, true},
		// Not JSON.
		{"garbage", `verdict: ok`, "", 0, true},
		// Discrepancies of another type.
		{"string", `{"verdict":"x","discrepancies":"many"}`, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseVerify([]byte(tc.doc))
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted %s", tc.doc)
				}
				return
			}
			if err != nil || v.Verdict != tc.verdict || v.Discrepancies != tc.n {
				t.Fatalf("got %+v, %v", v, err)
			}
		})
	}
}

func TestDiscrepanciesShown(t *testing.T) {
	dir := copyFixture(t, runrecord.TimelineFile)
	if err := os.WriteFile(filepath.Join(dir, VerifyFile), []byte(`{"verdict":"discrepancies","discrepancies":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	html := render(t, r)
	if !strings.Contains(html, `verdict-bad`) || !strings.Contains(html, "2 discrepancies") {
		t.Error("discrepancies not shown")
	}
	if strings.Contains(html, `data-chart="nic"`) || !strings.Contains(html, "no metrics.lp") {
		t.Error("a data dir without metrics.lp should say so and draw no NIC chart")
	}
}

func TestNoTimeline(t *testing.T) {
	empty := t.TempDir()
	if _, err := Build(empty); !errors.Is(err, ErrNoTimeline) {
		t.Errorf("empty dir: %v, want ErrNoTimeline", err)
	}
	onlyEvents := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyEvents, runrecord.TimelineFile),
		[]byte(`{"t_ms":1767225600000,"event":"connect"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(onlyEvents); !errors.Is(err, ErrNoTimeline) || !strings.Contains(err.Error(), "no complete second") {
		t.Errorf("events only: %v, want ErrNoTimeline", err)
	}
}

// A crash can tear the last line of the timeline; a restarted coordinator
// may write a second again. Neither stops the report.
func TestTornTimeline(t *testing.T) {
	dir := t.TempDir()
	body := `{"t":100,"target":10,"sent":10,"received":10}
{"t":101,"target":10,"sent":8,"received":8}
{"t":101,"target":10,"sent":9,"received":9}
{"t_ms":100500,"event":"qps","q":10,"at":100}
{"t":102,"target":10,"se`
	if err := os.WriteFile(filepath.Join(dir, runrecord.TimelineFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Seconds) != 2 || r.Seconds[1].Sent != 9 || len(r.Events) != 1 {
		t.Errorf("seconds %+v events %+v", r.Seconds, r.Events)
	}
	if len(r.Warnings) != 2 || !strings.Contains(r.Warnings[0], "1 unreadable lines") {
		t.Errorf("warnings %q", r.Warnings)
	}
	if html := render(t, r); !strings.Contains(html, "1 unreadable lines skipped") {
		t.Error("warning not shown")
	}
}

// Names and details come from agents and operators: they are escaped
// everywhere they are shown, in the SVG as in the tables.
func TestEscaping(t *testing.T) {
	dir := t.TempDir()
	evil := `<script>alert("x")</script>`
	body := `{"t":100,"target":10,"sent":10,"received":10,"shake":{"count":10,"p50_ms":1,"p90_ms":2,"p99_ms":3,"p999_ms":4,"max_ms":5}}
{"t_ms":100500,"event":"agent_dead","agent":"<b>h1</b>","detail":"` + strings.ReplaceAll(evil, `"`, `\"`) + `"}
{"t":101,"target":10,"sent":10,"received":10}
`
	lp := "net,host=<i>h9</i>,interface=eth0 packets_recv=1i,packets_sent=1i 100000000000\n" +
		"net,host=<i>h9</i>,interface=eth0 packets_recv=5i,packets_sent=9i 101000000000\n"
	if err := os.WriteFile(filepath.Join(dir, runrecord.TimelineFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, telemetry.MetricsFile), []byte(lp), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	html := render(t, r)
	for _, raw := range []string{"<script", "<b>h1", "<i>h9"} {
		if strings.Contains(html, raw) {
			t.Errorf("unescaped %q in the report", raw)
		}
	}
	if !strings.Contains(html, "&lt;b&gt;h1&lt;/b&gt;") || !strings.Contains(html, "&lt;i&gt;h9&lt;/i&gt; rx") {
		t.Error("escaped names missing")
	}
}

// TestServerLineFromTimelineAlone: with no metrics.lp, the server line
// comes from the timeline's server_received.
func TestServerLineFromTimelineAlone(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(fixtureDir, runrecord.TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, runrecord.TimelineFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ServerReceived) != 50 || r.ServerReceived[fixtureT0+20] != 304 {
		t.Fatalf("server received: %d seconds, 0:20 = %d", len(r.ServerReceived), r.ServerReceived[fixtureT0+20])
	}
	var html strings.Builder
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `data-series="server received"`) {
		t.Fatal("no server line")
	}
}
