package status

import (
	"strings"
	"testing"

	"github.com/hbctl/hbctl/coordinator/api"
)

func TestRenderTelemetry(t *testing.T) {
	st := api.Status{Now: 1_800_000_000_000, Telemetry: &api.TelemetryStatus{
		Sinks: []api.SinkStatus{
			{Name: "file", Target: "/d/metrics.lp", Written: 120},
			{Name: "influx", Target: "http://127.0.0.1:8086", Written: 80, Dropped: 40, Errors: 3, LastError: "connection refused"},
		},
		HostPoints: 12, HostRefused: 1,
	}}
	var b strings.Builder
	if err := Render(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"SINK", "LAST ERROR",
		"/d/metrics.lp",                                     // the file sink, no error: "-"
		"http://127.0.0.1:8086", "40", "connection refused", // drops and the last error of InfluxDB
		"12 accepted, 1 refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := Render(&b, api.Status{}); err != nil || strings.Contains(b.String(), "SINK") {
		t.Errorf("without telemetry: %v\n%s", err, b.String())
	}
}
