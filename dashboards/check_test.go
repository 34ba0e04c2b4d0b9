package dashboards

import (
	"fmt"
	"strings"
)

// schemaVersion is the dashboard schema of current Grafana (the default in
// @grafana/schema 13.2.3, pinned in schema/package.json).
const schemaVersion = 42

const gridColumns = 24

// checkDashboard returns every way d breaks the rules the dashboards keep.
func checkDashboard(d *dashboard, uids map[string]datasource) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if d.UID == "" || d.Title == "" {
		fail("dashboard needs a uid and a title")
	}
	if d.SchemaVersion != schemaVersion {
		fail("schemaVersion %d, want %d", d.SchemaVersion, schemaVersion)
	}
	seen := make(map[int]string)
	panels := d.allPanels()
	for _, p := range panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			fail("%s: id must be positive", where)
		}
		if other, dup := seen[p.ID]; dup {
			fail("%s: id already used by %q", where, other)
		}
		seen[p.ID] = p.Title
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > gridColumns {
			fail("%s: gridPos %+v outside the %d-column grid", where, g, gridColumns)
		}
		if p.Type == "row" {
			if g.H != 1 || g.W != gridColumns || g.X != 0 {
				fail("%s: a row spans the grid at height 1, got %+v", where, g)
			}
			continue
		}
		if p.Title == "" {
			fail("%s: no title", where)
		}
		if p.Datasource == nil || uids[p.Datasource.UID].UID == "" {
			fail("%s: data source %+v is not provisioned", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			fail("%s: no queries", where)
		}
		refs := make(map[string]bool)
		for _, t := range p.Targets {
			if t.Datasource == nil || uids[t.Datasource.UID].UID == "" {
				fail("%s: query %s data source %+v is not provisioned", where, t.RefID, t.Datasource)
			}
			if t.RefID == "" || refs[t.RefID] {
				fail("%s: query refId %q empty or repeated", where, t.RefID)
			}
			refs[t.RefID] = true
			if !t.RawQuery || t.Query == "" {
				fail("%s: query %s must be raw InfluxQL", where, t.RefID)
			}
			for _, err := range checkQuery(d, t) {
				fail("%s: %v", where, err)
			}
		}
	}
	// Panels on the top level share one grid and must not overlap.
	for i, a := range d.Panels {
		for _, b := range d.Panels[i+1:] {
			if overlap(a.GridPos, b.GridPos) {
				fail("panels %d %q and %d %q overlap", a.ID, a.Title, b.ID, b.Title)
			}
		}
	}
	used := make(map[string]bool)
	for _, p := range panels {
		for _, t := range p.Targets {
			q, err := parseQuery(t.Query)
			if err == nil {
				for _, v := range q.variables {
					used[v] = true
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, err := range checkVariable(v, uids) {
			fail("%v", err)
		}
		if !used[v.Name] {
			fail("variable %s: no panel uses it", v.Name)
		}
	}
	return errs
}

func overlap(a, b gridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func joinErrors(errs []error) string {
	var b strings.Builder
	for _, err := range errs {
		b.WriteString("\n\t")
		b.WriteString(err.Error())
	}
	return b.String()
}
