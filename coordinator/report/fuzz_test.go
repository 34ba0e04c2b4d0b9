package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// FuzzReport feeds arbitrary timeline and metrics files through the whole
// report: reading must not fail on bad lines, and rendering must finish,
// escape what it shows and never panic.
func FuzzReport(f *testing.F) {
	tl, err := os.ReadFile(filepath.Join(fixtureDir, runrecord.TimelineFile))
	if err != nil {
		f.Fatal(err)
	}
	lp, err := os.ReadFile(filepath.Join(fixtureDir, telemetry.MetricsFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tl[:4000], lp[:2000])
	f.Add([]byte(`{"t":1,"target":5,"sent":5,"received":4,"shake":{"count":4,"p50_ms":1,"p90_ms":2,"p99_ms":3,"p999_ms":4,"max_ms":5}}`),
		[]byte("net,host=a,interface=lo packets_recv=1i 1\nnet,host=a,interface=lo packets_recv=3i 2000000000\n"))
	f.Fuzz(func(t *testing.T, timeline, metricsLP []byte) {
		tlv, err := readTimeline(bytes.NewReader(timeline))
		if err != nil {
			return // a line beyond the scanner's bound
		}
		m := readMetrics(bytes.NewReader(metricsLP))
		if len(tlv.seconds) == 0 {
			return
		}
		r := &Report{DataDir: "fuzz", Seconds: tlv.seconds, Events: tlv.events, NIC: m.nic, ServerReceived: m.serverRecv}
		r.Phases = phases(r.Seconds, r.ServerReceived)
		r.Totals = totals(r.Seconds)
		r.TP99 = runQuantile(r.Seconds, 0.99)
		if r.TP99.OK && r.TP99.Lo > r.TP99.Hi {
			t.Errorf("TP99 bounds reversed: %+v", r.TP99)
		}
		for _, ph := range r.Phases {
			if ph.Seconds <= 0 || ph.To < ph.From || ph.Target <= 0 {
				t.Errorf("bad phase %+v", ph)
			}
		}
		var buf bytes.Buffer
		if err := r.WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(buf.String()), "<script") {
			t.Error("unescaped script tag")
		}
	})
}
