package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
)

// Variable is a dashboard's template variable: its InfluxQL query (SHOW TAG
// VALUES ...) and the value Grafana uses for All.
type Variable struct {
	Name, Query, AllValue string
}

// Query is one panel query of a dashboard, unexpanded.
type Query struct {
	Panel int
	Title string
	RefID string
	Text  string
}

// Queries reads the dashboard file name (Overview or Hosts) and returns its
// variables in the order Grafana resolves them (a variable may use the ones
// before it) and every panel query, collapsed rows included. Tests run them
// against InfluxDB after Expand.
func Queries(name string) ([]Variable, []Query, error) {
	b, err := fs.ReadFile(files, path.Join(DashboardDir, name))
	if err != nil {
		return nil, nil, err
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Query string `json:"query"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name     string `json:"name"`
				Query    string `json:"query"`
				AllValue string `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, nil, fmt.Errorf("dashboard %s: %w", name, err)
	}
	var vars []Variable
	for _, v := range d.Templating.List {
		vars = append(vars, Variable{Name: v.Name, Query: v.Query, AllValue: v.AllValue})
	}
	var qs []Query
	var walk func([]json.RawMessage) error
	walk = func(raw []json.RawMessage) error {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				return fmt.Errorf("dashboard %s: panel: %w", name, err)
			}
			for _, t := range p.Targets {
				qs = append(qs, Query{Panel: p.ID, Title: p.Title, RefID: t.RefID, Text: t.Query})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, nil, err
	}
	return vars, qs, nil
}

// ExpandTimeFilter is what Expand puts for $timeFilter: the last hour.
const ExpandTimeFilter = "time >= now() - 1h AND time <= now()"

var reVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// Expand does Grafana's part of a query: $timeFilter (ExpandTimeFilter),
// $__interval and $__interval_ms (the panels' 1 s minimum) and the template
// variables in vars (regex values, as Grafana substitutes them in
// =~ /^$var$/). Unknown variables are left as they are.
func Expand(q string, vars map[string]string) string {
	return reVariable.ReplaceAllStringFunc(q, func(m string) string {
		name := reVariable.FindStringSubmatch(m)[1]
		switch name {
		case "timeFilter":
			return ExpandTimeFilter
		case "__interval":
			return "1s"
		case "__interval_ms":
			return "1000"
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}
