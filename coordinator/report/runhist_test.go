package report

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// runHistDir writes a 20-second timeline whose seconds have very different
// latency profiles, and returns it with the run's merged histogram.
func runHistDir(t *testing.T) (string, *hdrhistogram.Histogram) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	run := telemetry.NewHistogram()
	f, err := os.Create(filepath.Join(dir, runrecord.TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i := range 20 {
		h := telemetry.NewHistogram()
		n := 100 + rng.IntN(900)
		for range n {
			v := int64(200 + rng.IntN(2000))
			if i%7 == 3 { // a slow second
				v *= 20
			}
			h.RecordValue(v)
			run.RecordValue(v)
		}
		p := telemetry.PercentilesOf(h)
		s := runrecord.TimelineSecond{T: 1_800_000_000 + int64(i), Target: int64(n),
			Counters: api.Counters{Sent: int64(n), Received: int64(n), None: int64(n)},
			Shake:    api.Percentiles{Count: p.Count, P50: p.P50, P90: p.P90, P99: p.P99, P999: p.P999, Max: p.Max}}
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
	}
	return dir, run
}

func TestReportExactPercentilesFromRunHistograms(t *testing.T) {
	dir, run := runHistDir(t)
	bounds, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bounds.TP99.Exact || bounds.TP99.Lo >= bounds.TP99.Hi {
		t.Fatalf("without run-histograms.json: %+v, want bounds", bounds.TP99)
	}
	if err := runrecord.WriteRunHistograms(dir, &runrecord.RunHistograms{
		First: 1_800_000_000, Last: 1_800_000_019, Shake: telemetry.Export(run)}); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := telemetry.PercentilesOf(run)
	for _, c := range []struct {
		name  string
		b, lo Bounds
		want  float64
	}{
		{"TP50", r.TP50, bounds.TP50, want.P50}, {"TP90", r.TP90, bounds.TP90, want.P90},
		{"TP99", r.TP99, bounds.TP99, want.P99}, {"TP99.9", r.TP999, bounds.TP999, want.P999},
	} {
		if !c.b.Exact || c.b.Lo != c.want || c.b.Hi != c.want {
			t.Errorf("%s: %+v, want exactly %v", c.name, c.b, c.want)
		}
		// The exact figure lies within the bounds the seconds imply.
		if c.want < c.lo.Lo || c.want > c.lo.Hi {
			t.Errorf("%s: exact %v outside the bounds [%v, %v]", c.name, c.want, c.lo.Lo, c.lo.Hi)
		}
	}
	var html strings.Builder
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "exact, from the merged run histogram") {
		t.Error("the HTML report does not say the percentiles are exact")
	}
}

// A histogram from a restarted coordinator covers only part of the
// timeline: the report keeps the bounds and says why.
func TestReportRunHistogramsPartial(t *testing.T) {
	dir, _ := runHistDir(t)
	late := telemetry.NewHistogram()
	late.RecordValue(500)
	if err := runrecord.WriteRunHistograms(dir, &runrecord.RunHistograms{
		First: 1_800_000_015, Last: 1_800_000_019, Shake: telemetry.Export(late)}); err != nil {
		t.Fatal(err)
	}
	r, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.TP99.Exact || !strings.Contains(strings.Join(r.Warnings, "\n"), runrecord.RunHistogramsFile) {
		t.Fatalf("TP99 %+v, warnings %q", r.TP99, r.Warnings)
	}
	// An unreadable file is a warning too, never a failed report.
	if err := os.WriteFile(filepath.Join(dir, runrecord.RunHistogramsFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = Build(dir); err != nil || r.TP99.Exact || len(r.Warnings) == 0 {
		t.Fatalf("torn file: %+v, %v", r, err)
	}
}
