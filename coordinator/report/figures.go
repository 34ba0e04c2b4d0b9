package report

import (
	"fmt"
	"math"
	"strings"
)

// Chart names, the data-chart attribute of each chart's SVG.
const (
	ChartQPS         = "qps"
	ChartEnvelopes   = "envelopes"
	ChartLatency     = "latency"
	ChartConnections = "connections"
	ChartNIC         = "nic"
)

// Colours with a meaning across charts.
const (
	colorTarget   = "#7f7f7f"
	colorSent     = "#4e79a7"
	colorReceived = "#f28e2b"
	colorServer   = "#59a14f"
)

// span is the time axis shared by every chart: the timeline's seconds and
// the phase changes around them.
func (r *Report) span() (x0, x1 float64) {
	x0 = float64(r.Seconds[0].T)
	x1 = float64(r.Seconds[len(r.Seconds)-1].T + 1)
	for _, m := range r.markers() {
		x0 = math.Min(x0, m.X)
		x1 = math.Max(x1, m.X)
	}
	return x0, x1
}

// markers are the phase changes drawn on every chart. Registrations are
// left out: a fleet registers long before it runs, and they say nothing
// about the load.
func (r *Report) markers() []Marker {
	var ms []Marker
	for _, e := range r.Events {
		m := Marker{X: float64(e.T) / 1000, Label: e.Kind, Kind: "phase"}
		title := []string{e.Kind}
		if e.Agent != "" {
			title = append(title, e.Agent)
		}
		if e.Detail != "" {
			title = append(title, e.Detail)
		}
		switch e.Kind {
		case "agent_registered":
			continue
		case "qps":
			m.Label = "qps " + compact(float64(e.Q))
			m.Kind = "qps"
			if e.At > 0 {
				m.X = float64(e.At)
			}
			title = append(title, fmt.Sprintf("%d/s", e.Q))
		case "replan":
			m.Kind = "qps"
			if e.At > 0 {
				m.X = float64(e.At)
			}
		case "agent_dead":
			m.Label = "dead " + e.Agent
			m.Kind = "fault"
		case "agent_back":
			m.Label = "back " + e.Agent
			m.Kind = "fault"
		}
		m.Title = strings.Join(title, ": ")
		ms = append(ms, m)
	}
	return ms
}

// Charts are the report's charts in page order; the envelope chart only
// when the run granted or opened any envelope, the NIC chart only when
// metrics.lp held packet counters.
func (r *Report) Charts() []*Chart {
	x0, x1 := r.span()
	marks := r.markers()
	n := len(r.Seconds)
	xs := make([]float64, n)
	for i := range r.Seconds {
		xs[i] = float64(r.Seconds[i].T)
	}
	col := func(f func(i int) float64) []float64 {
		ys := make([]float64, n)
		for i := range ys {
			ys[i] = f(i)
		}
		return ys
	}
	newChart := func(name, title, ylabel string) *Chart {
		return &Chart{Name: name, Title: title, YLabel: ylabel, X0: x0, X1: x1, Markers: marks}
	}

	qps := newChart(ChartQPS, "SHAKE requests per second: client vs server", "requests / s")
	qps.Series = []Series{
		{Name: "target", Color: colorTarget, Dashed: true, Width: 1.5, Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Target) })},
		{Name: "client sent", Color: colorSent, Width: 3.5, Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Sent) })},
		{Name: "answers received", Color: colorReceived, Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Received) })},
	}
	if len(r.ServerReceived) > 0 {
		qps.Series = append(qps.Series, Series{Name: "server received", Color: colorServer, Width: 1.2, Step: true, X: xs, Y: col(func(i int) float64 {
			v, ok := r.ServerReceived[r.Seconds[i].T]
			if !ok {
				return math.NaN()
			}
			return float64(v)
		})})
	}
	charts := []*Chart{qps}

	if r.Totals.Got > 0 || r.Totals.OpenAnswered > 0 {
		env := newChart(ChartEnvelopes, "Envelopes per second (as the clients received them)", "envelopes / s")
		env.Series = []Series{
			{Name: "shake envelopes granted", Color: "#e15759", Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Got) })},
			{Name: "sent envelopes opened", Color: "#76b7b2", Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].OpenAnswered) })},
		}
		charts = append(charts, env)
	}

	lat := newChart(ChartLatency, "SHAKE latency percentiles per second (from the intended fire time)", "ms (log scale)")
	lat.LogY = true
	lat.YFormat = func(v float64) string { return trim(v) }
	pick := func(f func(i int) float64) []float64 {
		return col(func(i int) float64 {
			if r.Seconds[i].Shake.Count <= 0 {
				return math.NaN()
			}
			return f(i)
		})
	}
	lat.Series = []Series{
		{Name: "p50", Color: "#59a14f", Step: true, X: xs, Y: pick(func(i int) float64 { return r.Seconds[i].Shake.P50 })},
		{Name: "p90", Color: "#4e79a7", Step: true, X: xs, Y: pick(func(i int) float64 { return r.Seconds[i].Shake.P90 })},
		{Name: "p99", Color: "#f28e2b", Step: true, X: xs, Y: pick(func(i int) float64 { return r.Seconds[i].Shake.P99 })},
		{Name: "p99.9", Color: "#e15759", Step: true, X: xs, Y: pick(func(i int) float64 { return r.Seconds[i].Shake.P999 })},
	}
	charts = append(charts, lat)

	conns := newChart(ChartConnections, "Connection ramp", "connections")
	conns.Series = []Series{
		{Name: "target", Color: colorTarget, Dashed: true, Width: 1.5, Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Connections.Target) })},
		{Name: "established", Color: colorSent, Step: true, X: xs, Y: col(func(i int) float64 { return float64(r.Seconds[i].Connections.Established) })},
	}
	charts = append(charts, conns)

	if len(r.NIC) > 0 {
		nic := newChart(ChartNIC, "NIC packets per second per host (solid: received, dashed: sent)", "packets / s")
		for i, h := range r.NIC {
			c := palette[i%len(palette)]
			hx := make([]float64, len(h.Points))
			rx := make([]float64, len(h.Points))
			tx := make([]float64, len(h.Points))
			for j, p := range h.Points {
				hx[j], rx[j], tx[j] = p.T, p.RxPerS, p.TxPerS
			}
			nic.Series = append(nic.Series,
				Series{Name: h.Host + " rx", Color: c, X: hx, Y: rx},
				Series{Name: h.Host + " tx", Color: c, Dashed: true, X: hx, Y: tx})
		}
		charts = append(charts, nic)
	}
	return charts
}
