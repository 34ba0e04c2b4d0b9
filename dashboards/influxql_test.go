package dashboards

import (
	"fmt"
	"regexp"
	"strings"
)

// The dashboards' InfluxQL is written in one plain shape, which these
// helpers take apart without a full parser (influxd itself judges the
// syntax in TestQueriesAgainstInfluxDB):
//
//	SELECT <exprs over "field"s> FROM "measurement" WHERE <"tag" conditions>
//	AND $timeFilter GROUP BY time($__interval)[, "tag"...] fill(null)
var (
	reFrom      = regexp.MustCompile(`\bFROM\s+"([^"]+)"`)
	reSubquery  = regexp.MustCompile(`\bFROM\s*\(`)
	reQuoted    = regexp.MustCompile(`"([^"]+)"`)
	reVarUse    = regexp.MustCompile(`\$\{?(\w+)\}?`)
	reVarRegex  = regexp.MustCompile(`/\^\$\{?(\w+)\}?\$/`)
	reTagAlias  = regexp.MustCompile(`\$tag_(\w+)`)
	reCumulated = regexp.MustCompile(`non_negative_derivative\(max\("([^"]+)"\), 1s\)`)
	reShowTags  = regexp.MustCompile(`^SHOW TAG VALUES FROM "([^"]+)" WITH KEY = "([^"]+)"( WHERE .*)?$`)
)

// builtins are the variables Grafana itself expands in InfluxQL.
var builtins = map[string]bool{"timeFilter": true, "__interval": true, "__interval_ms": true}

// influxQuery is one panel query taken apart.
type influxQuery struct {
	measurement string
	fields      []string // quoted identifiers in SELECT
	whereTags   []string // quoted identifiers in WHERE
	groupTags   []string // quoted identifiers in GROUP BY
	variables   []string // $name and ${name}, builtins included
}

func parseQuery(q string) (influxQuery, error) {
	var out influxQuery
	if reSubquery.MatchString(q) {
		return out, fmt.Errorf("subquery: the checks only read a plain FROM \"measurement\"")
	}
	if !strings.HasPrefix(q, "SELECT ") {
		return out, fmt.Errorf("not a SELECT")
	}
	m := reFrom.FindStringSubmatchIndex(q)
	if m == nil {
		return out, fmt.Errorf("no FROM \"measurement\"")
	}
	out.measurement = q[m[2]:m[3]]
	out.fields = quoted(q[len("SELECT "):m[0]])
	rest := q[m[1]:]
	where, group, ok := strings.Cut(rest, " GROUP BY ")
	if !ok {
		return out, fmt.Errorf("no GROUP BY")
	}
	out.whereTags = quoted(where)
	out.groupTags = quoted(group)
	for _, v := range reVarUse.FindAllStringSubmatch(q, -1) {
		out.variables = append(out.variables, v[1])
	}
	return out, nil
}

func quoted(s string) []string {
	var out []string
	for _, m := range reQuoted.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkQuery judges one panel query against the measurement table and the
// dashboard's variables.
func checkQuery(d *dashboard, t target) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("query %s %q: %s", t.RefID, t.Query, fmt.Sprintf(format, args...)))
	}
	q, err := parseQuery(t.Query)
	if err != nil {
		fail("%v", err)
		return errs
	}
	meas, ok := catalog[q.measurement]
	if !ok {
		fail("unknown measurement %q", q.measurement)
		return errs
	}
	if len(q.fields) == 0 {
		fail("selects no field")
	}
	for _, f := range q.fields {
		if !meas.hasField(f) {
			fail("measurement %s has no field %q", q.measurement, f)
		}
	}
	for _, tag := range append(append([]string{}, q.whereTags...), q.groupTags...) {
		if !meas.hasTag(tag) {
			fail("measurement %s has no tag %q", q.measurement, tag)
		}
	}
	if meas.cumulative {
		rates := reCumulated.FindAllStringSubmatch(t.Query, -1)
		if len(rates) != len(q.fields) {
			fail("%s holds cumulative counters: read every field as non_negative_derivative(max(\"f\"), 1s)", q.measurement)
		}
	}
	for _, part := range []string{"$timeFilter", "GROUP BY time($__interval)", "fill(null)"} {
		if !strings.Contains(t.Query, part) {
			fail("missing %s", part)
		}
	}
	for _, v := range q.variables {
		if builtins[v] {
			continue
		}
		if _, ok := d.variable(v); !ok {
			fail("uses undefined variable $%s", v)
		}
	}
	// Multi-value variables expand to a regex alternation, which only
	// means what it should inside an anchored regex match.
	inRegex := len(reVarRegex.FindAllString(t.Query, -1))
	users := 0
	for _, v := range q.variables {
		if !builtins[v] {
			users++
		}
	}
	if inRegex != users {
		fail("use template variables only as =~ /^$name$/")
	}
	for _, m := range reTagAlias.FindAllStringSubmatch(t.Alias, -1) {
		if !contains(q.groupTags, m[1]) {
			fail("alias uses $tag_%s but the query does not GROUP BY %q", m[1], m[1])
		}
	}
	return errs
}

// checkVariable judges one template variable.
func checkVariable(v variable, uids map[string]datasource) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("variable %s: %s", v.Name, fmt.Sprintf(format, args...)))
	}
	if v.Type != "query" {
		fail("type %q, want query", v.Type)
	}
	if v.Datasource == nil || uids[v.Datasource.UID].UID == "" {
		fail("data source %+v is not provisioned", v.Datasource)
	}
	if !v.Multi || !v.IncludeAll {
		fail("must be multi-value with All")
	}
	m := reShowTags.FindStringSubmatch(v.Query)
	if m == nil {
		fail("query %q is not SHOW TAG VALUES FROM \"m\" WITH KEY = \"tag\"", v.Query)
		return errs
	}
	meas, ok := catalog[m[1]]
	if !ok {
		fail("unknown measurement %q", m[1])
	} else if !meas.hasTag(m[2]) {
		fail("measurement %s has no tag %q", m[1], m[2])
	}
	return errs
}
