package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units; the SVG scales to its container and
// is drawn for a 1200 px wide page.
const (
	chartW      = 1140
	plotH       = 250
	marginLeft  = 78
	marginRight = 24
	marginBot   = 48
)

// Series is one line of a chart. A NaN Y breaks the line.
type Series struct {
	Name   string
	Color  string
	Dashed bool
	Width  float64 // stroke width; 0 means 2
	Step   bool    // hold each value until the next X (per-second counters)
	X, Y   []float64
}

// Marker is a vertical line at a phase change.
type Marker struct {
	X     float64 // Unix seconds
	Label string
	Title string // tooltip, e.g. the event's detail
	Kind  string // css class suffix: phase, qps, fault
}

// Chart is one time-series chart over a shared time range.
type Chart struct {
	Name    string // data-chart attribute
	Title   string
	YLabel  string
	LogY    bool
	X0, X1  float64 // Unix seconds of the axis ends
	Series  []Series
	Markers []Marker
	// YFormat formats tick values (default: compact numbers).
	YFormat func(float64) string
}

// palette is Tableau 10: distinct on screen and on paper.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// SVG draws the chart. Every string from the data is escaped.
func (c *Chart) SVG() template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	pw := float64(chartW - marginLeft - marginRight)
	x0, x1 := c.X0, c.X1
	if !(x1 > x0) {
		x1 = x0 + 1
	}
	sx := func(x float64) float64 { return marginLeft + (x-x0)/(x1-x0)*pw }

	// Layout from the top: legend rows, marker label rows, then the plot.
	legend, legendRows := c.legendLayout()
	labels, labelRows := c.labelLayout(sx)
	top := float64(legendRows*legendRowH + 8 + labelRows*labelRowH + 6)
	height := top + plotH + marginBot
	ylo, yhi := c.yRange()
	sy := func(y float64) float64 {
		if c.LogY {
			y = math.Log10(math.Max(y, ylo))
			return top + plotH - (y-math.Log10(ylo))/(math.Log10(yhi)-math.Log10(ylo))*plotH
		}
		return top + plotH - (y-ylo)/(yhi-ylo)*plotH
	}
	yfmt := c.YFormat
	if yfmt == nil {
		yfmt = compact
	}

	fmt.Fprintf(&b, `<svg class="chart" data-chart="%s" viewBox="0 0 %d %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		esc(c.Name), chartW, height, esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<rect class="plot" x="%d" y="%g" width="%g" height="%d"/>`, marginLeft, top, pw, plotH)

	// Y grid and ticks.
	for _, t := range c.yTicks(ylo, yhi) {
		y := sy(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%g" y1="%.1f" y2="%.1f"/>`, marginLeft, marginLeft+pw, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, marginLeft-8, y, esc(yfmt(t)))
	}
	// X grid and ticks: time since the start of the axis.
	step := timeStep(x1 - x0)
	first := math.Ceil(x0/step) * step
	for n := 0; n <= 40; n++ {
		// Counted, not accumulated: far from the epoch a small step would
		// vanish in the sum's rounding.
		t := first + float64(n)*step
		if t > x1+1e-9 {
			break
		}
		x := sx(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%g" y2="%g"/>`, x, x, top, top+plotH)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="middle">%s</text>`, x, top+plotH+18, esc(clock(t-x0)))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%g" y2="%g"/>`, marginLeft, marginLeft, top, top+plotH)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%g" y1="%g" y2="%g"/>`, marginLeft, marginLeft+pw, top+plotH, top+plotH)
	fmt.Fprintf(&b, `<text class="axis-label" x="%g" y="%g" text-anchor="middle">time since start (m:ss)</text>`, marginLeft+pw/2, height-8)
	fmt.Fprintf(&b, `<text class="axis-label" transform="translate(18 %g) rotate(-90)" text-anchor="middle">%s</text>`, top+plotH/2, esc(c.YLabel))

	// Phase markers under the data, their labels above the plot.
	labelTop := float64(legendRows*legendRowH + 8)
	for i, m := range c.Markers {
		row, ok := labels[i]
		if !ok {
			continue
		}
		x := sx(m.X)
		kind := m.Kind
		if kind == "" {
			kind = "phase"
		}
		ly := labelTop + float64(row+1)*labelRowH - 3
		fmt.Fprintf(&b, `<g class="marker marker-%s" data-marker="%s"><title>%s</title>`, esc(kind), esc(m.Label), esc(m.Title))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%g"/>`, x, x, ly+3, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text></g>`, x+3, ly, esc(m.Label))
	}

	// Data.
	b.WriteString(`<g class="data">`)
	for i, s := range c.Series {
		d := c.path(&s, sx, sy, ylo, yhi)
		if d == "" {
			continue
		}
		fmt.Fprintf(&b, `<path class="series" data-series="%s" d="%s" stroke="%s" stroke-width="%g"%s/>`,
			esc(s.Name), d, esc(seriesColor(s, i)), seriesWidth(s), dashAttr(s))
	}
	b.WriteString(`</g>`)

	// Legend.
	for i, s := range c.Series {
		l := legend[i]
		y := float64(l.row*legendRowH) + 14
		fmt.Fprintf(&b, `<g class="legend"><line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="3"%s/><text x="%g" y="%g">%s</text></g>`,
			l.x, l.x+22, y, y, esc(seriesColor(s, i)), dashAttr(s), l.x+28, y+4.5, esc(s.Name))
	}
	if len(c.Series) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%g" y="%g" text-anchor="middle">no data</text>`, marginLeft+pw/2, top+plotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Text widths are estimated, since nothing measures text before it is
// drawn; the estimates are for the fonts of the page's style, a little
// generous.
const (
	legendCharW = 7.4 // 13 px legend text
	labelCharW  = 6.6 // 11 px marker labels, some bold
	legendRowH  = 20
	labelRowH   = 14
	maxLabelRow = 4
)

type legendPos struct {
	x   float64
	row int
}

// legendLayout places legend entries left to right, wrapping rows.
func (c *Chart) legendLayout() ([]legendPos, int) {
	pos := make([]legendPos, len(c.Series))
	x, row := float64(marginLeft), 0
	for i, s := range c.Series {
		w := 28 + legendCharW*float64(len([]rune(s.Name))) + 24
		if x+w > chartW-marginRight && x > marginLeft {
			x, row = marginLeft, row+1
		}
		pos[i] = legendPos{x, row}
		x += w
	}
	return pos, row + 1
}

// labelLayout gives each marker inside the axis a label row: the first
// row whose last label ends left of it, so close phase changes stay
// legible. Beyond maxLabelRow rows labels overlap in the last row.
func (c *Chart) labelLayout(sx func(float64) float64) (map[int]int, int) {
	rows := map[int]int{}
	var ends []float64
	for i, m := range c.Markers {
		if math.IsNaN(m.X) || m.X < c.X0 || m.X > c.X1 {
			continue
		}
		x := sx(m.X)
		w := labelCharW*float64(len([]rune(m.Label))) + 8
		row := -1
		for r, end := range ends {
			if end <= x {
				row = r
				break
			}
		}
		if row < 0 {
			if len(ends) < maxLabelRow {
				ends = append(ends, 0)
			}
			row = len(ends) - 1
		}
		ends[row] = x + w
		rows[i] = row
	}
	return rows, max(1, len(ends))
}

// path is the SVG path of a series. Per-second series are drawn as steps
// holding each value over its second, so a rate change shows where it
// happened instead of as a slope across the second before it.
func (c *Chart) path(s *Series, sx, sy func(float64) float64, ylo, yhi float64) string {
	var d strings.Builder
	num := func(v float64) { d.WriteString(strconv.FormatFloat(v, 'f', 1, 64)) }
	pen := false
	lastX := 0.0
	lift := func() {
		if pen && s.Step {
			d.WriteByte('H')
			num(sx(math.Min(lastX+1, c.X1)))
		}
		pen = false
	}
	for j := range s.X {
		if j >= len(s.Y) {
			break
		}
		xv, yv := s.X[j], s.Y[j]
		if math.IsNaN(yv) || math.IsInf(yv, 0) || math.IsNaN(xv) || xv < c.X0 || xv > c.X1 || (c.LogY && yv <= 0) {
			lift()
			continue
		}
		if pen && s.Step && xv > lastX+1.5 {
			lift() // a gap in the seconds
		}
		yv = math.Min(math.Max(yv, ylo), yhi)
		switch {
		case !pen:
			d.WriteByte('M')
			num(sx(xv))
			d.WriteByte(' ')
			num(sy(yv))
		case s.Step:
			d.WriteByte('H')
			num(sx(xv))
			d.WriteByte('V')
			num(sy(yv))
		default:
			d.WriteByte('L')
			num(sx(xv))
			d.WriteByte(' ')
			num(sy(yv))
		}
		pen, lastX = true, xv
	}
	lift()
	return d.String()
}

func seriesColor(s Series, i int) string {
	if s.Color != "" {
		return s.Color
	}
	return palette[i%len(palette)]
}

func seriesWidth(s Series) float64 {
	if s.Width == 0 {
		return 2
	}
	return s.Width
}

func dashAttr(s Series) string {
	if s.Dashed {
		return ` stroke-dasharray="7 4"`
	}
	return ""
}

// yRange is the value range of the Y axis: from 0 (linear) or the
// smallest decade (log) to a nice number above the largest value.
func (c *Chart) yRange() (lo, hi float64) {
	hi = math.Inf(-1)
	lo = math.Inf(1)
	for _, s := range c.Series {
		for j, y := range s.Y {
			if j >= len(s.X) || math.IsNaN(y) || math.IsInf(y, 0) || s.X[j] < c.X0 || s.X[j] > c.X1 {
				continue
			}
			if c.LogY && y <= 0 {
				continue
			}
			hi = math.Max(hi, y)
			lo = math.Min(lo, y)
		}
	}
	if c.LogY {
		if math.IsInf(hi, 0) {
			return 0.1, 10
		}
		// Decades from a microsecond to a few hours keep the tick loop short
		// whatever the data holds.
		lo = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1e-3))))
		hi = math.Pow(10, math.Ceil(math.Log10(math.Min(hi, 1e7))))
		if hi <= lo {
			hi = lo * 10
		}
		return lo, hi
	}
	if math.IsInf(hi, 0) || hi <= 0 {
		return 0, 1
	}
	ticks := niceTicks(0, hi*1.05, 6)
	return 0, ticks[len(ticks)-1]
}

func (c *Chart) yTicks(lo, hi float64) []float64 {
	if c.LogY {
		var ts []float64
		for d := lo; d <= hi*1.0001; d *= 10 {
			ts = append(ts, d)
		}
		return ts
	}
	return niceTicks(lo, hi, 6)
}

// niceTicks returns round tick values from lo to at least hi, about n of
// them, stepping by 1, 2 or 5 times a power of ten.
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []float64{lo, lo + 1}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	var ts []float64
	first := math.Floor(lo/step) * step
	for i := 0; ; i++ {
		t := first + float64(i)*step
		ts = append(ts, t)
		if t >= hi-step*1e-9 || len(ts) > 4*n {
			break
		}
	}
	return ts
}

// timeStep is a round tick step in seconds for a span, about 8 ticks.
func timeStep(span float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400} {
		if span/s <= 10 {
			return s
		}
	}
	return math.Ceil(span/10/86400) * 86400
}

// clock formats seconds since the start as m:ss, or h:mm:ss past an hour.
func clock(sec float64) string {
	s := int64(math.Round(sec))
	neg := ""
	if s < 0 {
		neg, s = "-", -s
	}
	if s >= 3600 {
		return fmt.Sprintf("%s%d:%02d:%02d", neg, s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%s%d:%02d", neg, s/60, s%60)
}

// compact formats a tick value: 1500 → 1.5k, 2000000 → 2M, 0.25 → 0.25.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
