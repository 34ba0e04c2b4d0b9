package dashboards

import (
	"io/fs"
	"path"
	"strings"
	"testing"
)

// TestDashboards checks every shipped dashboard against the measurement
// table, the provisioned data sources and Grafana's layout rules.
func TestDashboards(t *testing.T) {
	uids := loadDatasources(t)
	boards := loadDashboards(t)
	for name, d := range boards {
		t.Run(name, func(t *testing.T) {
			if errs := checkDashboard(d, uids); len(errs) > 0 {
				t.Errorf("%d problems:%s", len(errs), joinErrors(errs))
			}
			if want := strings.TrimSuffix(name, ".json"); d.UID != want {
				t.Errorf("uid %q, want the file name %q", d.UID, want)
			}
		})
	}
}

// TestDashboardsCoverTheBrief pins what each dashboard must show, so a panel
// deleted by accident is noticed.
func TestDashboardsCoverTheBrief(t *testing.T) {
	boards := loadDashboards(t)
	for _, tc := range []struct {
		file      string
		variables []string
		// every measurement.field listed must be read by some panel
		reads []string
	}{
		{
			file:      Overview,
			variables: []string{"host", "cmd"},
			reads: []string{
				"hb_connections.established", "hb_connections.target", "hb_connections.failed",
				"hb_requests.sent", "hb_requests.received", "hb_requests.got", "hb_requests.none", "hb_requests.overloaded",
				"hb_envelopes.issued", "hb_envelopes.granted", "hb_envelopes.opened", "hb_envelopes.amount",
				"hb_latency.p50", "hb_latency.p90", "hb_latency.p99", "hb_latency.p999",
				"hb_schedule.lateness_p99", "hb_schedule.clock_offset", "hb_schedule.target_qps",
			},
		},
		{
			file:      Hosts,
			variables: []string{"host", "interface"},
			reads: []string{
				"net.packets_recv", "net.packets_sent", "net.bytes_recv", "net.bytes_sent",
				"net.drop_in", "net.drop_out", "net.err_in", "net.err_out",
				"cpu.usage_user", "cpu.usage_system", "cpu.usage_idle",
				"mem.used_percent", "mem.used", "mem.available",
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, ok := boards[tc.file]
			if !ok {
				t.Fatalf("%s missing", tc.file)
			}
			for _, v := range tc.variables {
				if _, ok := d.variable(v); !ok {
					t.Errorf("variable %s missing", v)
				}
			}
			read := make(map[string]bool)
			for _, p := range d.allPanels() {
				for _, tg := range p.Targets {
					q, err := parseQuery(tg.Query)
					if err != nil {
						continue
					}
					for _, f := range q.fields {
						read[q.measurement+"."+f] = true
					}
				}
			}
			for _, r := range tc.reads {
				if !read[r] {
					t.Errorf("no panel reads %s", r)
				}
			}
		})
	}
}

// TestCheckDashboardCatchesMistakes breaks a copy of a real dashboard one
// way at a time and expects the checks to name the mistake.
func TestCheckDashboardCatchesMistakes(t *testing.T) {
	uids := loadDatasources(t)
	raw, err := fs.ReadFile(Files(), path.Join(DashboardDir, Overview))
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(t *testing.T) *dashboard {
		d, err := parseDashboard(raw)
		if err != nil {
			t.Fatal(err)
		}
		if errs := checkDashboard(d, uids); len(errs) > 0 {
			t.Fatalf("the unbroken dashboard already fails:%s", joinErrors(errs))
		}
		return d
	}
	// first returns the first panel that has a query, and its first query.
	first := func(d *dashboard) (*panel, *target) {
		for i := range d.Panels {
			if len(d.Panels[i].Targets) > 0 {
				return &d.Panels[i], &d.Panels[i].Targets[0]
			}
		}
		t.Fatal("no panel with a query")
		return nil, nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(d *dashboard)
		want   string
	}{
		// A field telemetry does not write.
		{"unknown field", func(d *dashboard) {
			_, q := first(d)
			q.Query = strings.Replace(q.Query, `("established")`, `("establishd")`, 1)
		}, `no field "establishd"`},
		// A measurement telemetry does not write.
		{"unknown measurement", func(d *dashboard) {
			_, q := first(d)
			q.Query = strings.Replace(q.Query, `FROM "hb_connections"`, `FROM "hb_conns"`, 1)
		}, `unknown measurement "hb_conns"`},
		// A tag the measurement lacks.
		{"unknown tag", func(d *dashboard) {
			_, q := first(d)
			q.Query = strings.Replace(q.Query, `"role" = 'agent'`, `"kind" = 'agent'`, 1)
		}, `no tag "kind"`},
		// A variable nobody defined.
		{"undefined variable", func(d *dashboard) {
			_, q := first(d)
			q.Query = strings.Replace(q.Query, `$host`, `$hots`, 1)
		}, "undefined variable $hots"},
		// Grafana's time filter left out.
		{"no time filter", func(d *dashboard) {
			_, q := first(d)
			q.Query = strings.Replace(q.Query, ` AND $timeFilter`, ``, 1)
		}, "missing $timeFilter"},
		// A data source that is not provisioned.
		{"unknown data source", func(d *dashboard) {
			p, _ := first(d)
			p.Datasource = &dsRef{Type: "influxdb", UID: "nope"}
		}, "is not provisioned"},
		// Two panels with one id.
		{"duplicate id", func(d *dashboard) {
			d.Panels[1].ID = d.Panels[0].ID
		}, "id already used"},
		// Two panels on one spot.
		{"overlap", func(d *dashboard) {
			d.Panels[1].GridPos = d.Panels[0].GridPos
		}, "overlap"},
		// Wider than the grid.
		{"off the grid", func(d *dashboard) {
			d.Panels[0].GridPos.X = 20
		}, "outside the 24-column grid"},
		// Cumulative NIC counters plotted raw.
		{"raw cumulative counter", func(d *dashboard) {
			_, q := first(d)
			q.Query = `SELECT max("bytes_recv") FROM "net" WHERE "host" =~ /^$host$/ AND $timeFilter GROUP BY time($__interval), "host" fill(null)`
		}, "cumulative counters"},
		// An old schema.
		{"old schema", func(d *dashboard) { d.SchemaVersion = 16 }, "schemaVersion 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fresh(t)
			tc.mutate(d)
			errs := checkDashboard(d, uids)
			if !strings.Contains(joinErrors(errs), tc.want) {
				t.Fatalf("want a problem containing %q, got:%s", tc.want, joinErrors(errs))
			}
		})
	}
}
