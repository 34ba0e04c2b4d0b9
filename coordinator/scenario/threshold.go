package scenario

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Threshold is one pass/fail rule of a scenario, such as
// `shake.p99 < 50ms`, `qps_error < 1%`, `unanswered == 0` or
// `ledger: reconciled`.
type Threshold struct {
	Line   int
	Expr   string // as written, for the summary
	Metric string
	Op     string // < <= > >= == !=
	Value  float64
	Word   string // for word metrics (ledger): the value compared
}

// Outcome is a threshold evaluated.
type Outcome struct {
	Threshold
	Passed   bool
	Measured string // the measured value with its unit, or why there is none
}

// metricKind says how a metric's values are written.
type metricKind int

const (
	kindDuration metricKind = iota // milliseconds; written 50ms, 2s, 300us
	kindRatio                      // a fraction; written 1% or 0.01
	kindCount                      // a whole number
	kindWord                       // a word (ledger: reconciled)
)

// metrics are the names thresholds may use and their kind.
var metrics = withLatencies(map[string]metricKind{
	"qps_error":     kindRatio,
	"sent":          kindCount,
	"received":      kindCount,
	"got":           kindCount,
	"none":          kindCount,
	"overloaded":    kindCount,
	"missed":        kindCount,
	"skipped":       kindCount,
	"unanswered":    kindCount,
	"lost":          kindCount,
	"open_sent":     kindCount,
	"open_answered": kindCount,
	"conn_failed":   kindCount,
	"late_windows":  kindCount,
	"ledger":        kindWord,
})

// withLatencies adds the percentiles of the three merged histograms.
func withLatencies(m map[string]metricKind) map[string]metricKind {
	for _, h := range []string{"shake", "open", "lateness"} {
		for _, p := range []string{"p50", "p90", "p99", "p999", "max"} {
			m[h+"."+p] = kindDuration
		}
	}
	return m
}

var exprRE = regexp.MustCompile(`^\s*([a-z_][a-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// ParseThreshold parses one threshold expression.
func ParseThreshold(expr string) (Threshold, error) {
	th := Threshold{Expr: strings.TrimSpace(expr)}
	m := exprRE.FindStringSubmatch(expr)
	if m == nil {
		return th, fmt.Errorf("threshold %q: want METRIC OP VALUE, such as shake.p99 < 50ms", expr)
	}
	th.Metric, th.Op = m[1], m[2]
	kind, ok := metrics[th.Metric]
	if !ok {
		return th, fmt.Errorf("threshold %q: unknown metric %s (known: %s)", expr, th.Metric, strings.Join(metricNames(), ", "))
	}
	v := m[3]
	var err error
	switch kind {
	case kindDuration:
		var d time.Duration
		if v == "0" {
			d = 0
		} else if d, err = time.ParseDuration(v); err != nil {
			return th, fmt.Errorf("threshold %q: %s is measured in time: write a duration such as 50ms", expr, th.Metric)
		}
		th.Value = float64(d) / float64(time.Millisecond)
	case kindRatio:
		if p, ok := strings.CutSuffix(v, "%"); ok {
			th.Value, err = strconv.ParseFloat(p, 64)
			th.Value /= 100
		} else {
			th.Value, err = strconv.ParseFloat(v, 64)
		}
		if err != nil {
			return th, fmt.Errorf("threshold %q: write a percentage such as 1%%", expr)
		}
	case kindCount:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return th, fmt.Errorf("threshold %q: %s is a count: write a whole number", expr, th.Metric)
		}
		th.Value = float64(n)
	case kindWord:
		if th.Op != "==" && th.Op != "!=" {
			return th, fmt.Errorf("threshold %q: %s compares only with == or !=", expr, th.Metric)
		}
		th.Word = v
	}
	return th, nil
}

// parseThresholdNode accepts a string (`shake.p99 < 50ms`) or a one-key
// map (`ledger: reconciled`, read as ledger == reconciled).
func parseThresholdNode(n *yaml.Node) (Threshold, error) {
	var expr string
	switch {
	case n.Kind == yaml.ScalarNode:
		expr = n.Value
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[1].Kind == yaml.ScalarNode:
		expr = n.Content[0].Value + " == " + n.Content[1].Value
	default:
		return Threshold{}, fmt.Errorf("line %d: a threshold is a string such as \"shake.p99 < 50ms\" or \"ledger: reconciled\"", n.Line)
	}
	th, err := ParseThreshold(expr)
	th.Line = n.Line
	if err != nil {
		return th, fmt.Errorf("line %d: %w", n.Line, err)
	}
	if n.Kind == yaml.MappingNode {
		th.Expr = n.Content[0].Value + ": " + n.Content[1].Value
	}
	return th, nil
}

func metricNames() []string {
	names := make([]string, 0, len(metrics))
	for _, n := range []string{"shake", "open", "lateness"} {
		names = append(names, n+".p50|p90|p99|p999|max")
	}
	for n, k := range metrics {
		if k != kindDuration {
			names = append(names, n)
		}
	}
	return names
}

// Evaluate compares the threshold with the measures.
func (th Threshold) Evaluate(m *Measures) Outcome {
	o := Outcome{Threshold: th}
	kind := metrics[th.Metric]
	if kind == kindWord {
		got := m.Ledger
		if got == "" {
			o.Measured = "nothing (no verify step ran)"
			return o
		}
		o.Measured = got
		o.Passed = (got == th.Word) == (th.Op == "==")
		return o
	}
	v, ok := m.value(th.Metric)
	if !ok {
		o.Measured = "nothing (no such event in the run)"
		if th.Metric == "qps_error" {
			o.Measured = "nothing (no second with a constant non-zero target)"
		}
		return o
	}
	switch kind {
	case kindDuration:
		o.Measured = fmtMillis(v)
	case kindRatio:
		o.Measured = fmt.Sprintf("%.3f%%", v*100)
		if th.Metric == "qps_error" && m.QPSErrorAt > 0 {
			o.Measured += fmt.Sprintf(" (worst at %s UTC, of %d seconds)", time.Unix(m.QPSErrorAt, 0).UTC().Format("15:04:05"), m.QPSSeconds)
		}
	default:
		o.Measured = strconv.FormatFloat(v, 'f', -1, 64)
	}
	switch th.Op {
	case "<":
		o.Passed = v < th.Value
	case "<=":
		o.Passed = v <= th.Value
	case ">":
		o.Passed = v > th.Value
	case ">=":
		o.Passed = v >= th.Value
	case "==":
		o.Passed = v == th.Value
	case "!=":
		o.Passed = v != th.Value
	}
	return o
}

// fmtMillis writes a latency in milliseconds with a sensible unit.
func fmtMillis(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.3fs", ms/1000)
	case ms >= 1:
		return fmt.Sprintf("%.3fms", ms)
	default:
		return fmt.Sprintf("%.0fus", ms*1000)
	}
}
