package agents

import (
	"slices"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry of every window: microseconds from 1 µs to one minute,
// three significant digits. Larger values are recorded as the maximum.
const (
	histLowest  = 1
	histHighest = 60_000_000
	histDigits  = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, histDigits) }

// recordMicros records a duration in ns as µs, clamped to the geometry.
func recordMicros(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	if us < histLowest {
		us = histLowest
	} else if us > histHighest {
		us = histHighest
	}
	_ = h.RecordValue(us) // in range by construction
}

// Counts are the event counters of one window, or the totals of a run.
type Counts struct {
	Fires      uint64 `json:"fires"`      // fires of the plan for held users: Sent+Missed+Skipped
	Sent       uint64 `json:"sent"`       // SHAKEs written, by the second of their intended time
	Missed     uint64 `json:"missed"`     // fires whose user was not connected (or whose write would block)
	Skipped    uint64 `json:"skipped"`    // fires skipped after an overloaded answer
	Unanswered uint64 `json:"unanswered"` // SHAKEs that passed the timeout
	Lost       uint64 `json:"lost"`       // SHAKEs pending when their connection closed

	Got        uint64 `json:"got"` // SHAKE_RESPs received, by result
	None       uint64 `json:"none"`
	Empty      uint64 `json:"empty"`
	Overloaded uint64 `json:"overloaded"`
	Anomalies  uint64 `json:"anomalies"` // answers to nothing, frames only a client sends, OPEN_RESPs for no OPEN

	GrantAmount  uint64 `json:"grant_amount"` // cents granted by SHAKE_RESP 14
	Notified     uint64 `json:"notified"`     // ENVELOPEs received
	NotNamed     uint64 `json:"not_named"`    // ENVELOPEs received by a user they do not name
	OpenSent     uint64 `json:"open_sent"`
	OpenMissed   uint64 `json:"open_missed"` // OPENs due while the user was not connected
	OpenAnswered uint64 `json:"open_answered"`
	OpenAmount   uint64 `json:"open_amount"` // cents received in OPEN_RESPs

	ConnEstablished uint64 `json:"conn_established"` // logins accepted
	ConnFailed      uint64 `json:"conn_failed"`      // dials or logins that failed
	ConnClosed      uint64 `json:"conn_closed"`      // established connections that ended
	Overflows       uint64 `json:"overflows"`        // connections closed for too many pending SHAKEs
	ProtocolErrors  uint64 `json:"protocol_errors"`  // connections closed on a bad frame
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	c.Fires += o.Fires
	c.Sent += o.Sent
	c.Missed += o.Missed
	c.Skipped += o.Skipped
	c.Unanswered += o.Unanswered
	c.Lost += o.Lost
	c.Got += o.Got
	c.None += o.None
	c.Empty += o.Empty
	c.Overloaded += o.Overloaded
	c.Anomalies += o.Anomalies
	c.GrantAmount += o.GrantAmount
	c.Notified += o.Notified
	c.NotNamed += o.NotNamed
	c.OpenSent += o.OpenSent
	c.OpenMissed += o.OpenMissed
	c.OpenAnswered += o.OpenAnswered
	c.OpenAmount += o.OpenAmount
	c.ConnEstablished += o.ConnEstablished
	c.ConnFailed += o.ConnFailed
	c.ConnClosed += o.ConnClosed
	c.Overflows += o.Overflows
	c.ProtocolErrors += o.ProtocolErrors
}

// Window is one whole second S of coordinator time. Fires (Sent, Missed,
// Skipped) are counted by the second of their intended time, everything
// else by the second it happened in. A window is handed out only once every
// loop's pacer has passed S+1, so its Sent is final.
type Window struct {
	Agent  string `json:"agent"`
	Second int64  `json:"second"` // Unix seconds, coordinator clock
	Counts
	Established int `json:"established"` // connections logged in at the end of the second

	// Microseconds. Latency runs from the intended time (so a stalled agent
	// cannot hide its stalls); lateness is write time - intended time.
	ShakeLatency *hdrhistogram.Snapshot `json:"shake_latency"`
	OpenLatency  *hdrhistogram.Snapshot `json:"open_latency"`
	Lateness     *hdrhistogram.Snapshot `json:"lateness"`
}

// winAcc accumulates one second inside one loop (one histogram set per
// goroutine; the assembler merges them).
type winAcc struct {
	c                       Counts
	shakeLat, openLat, late *hdrhistogram.Histogram
}

func newWinAcc() *winAcc {
	return &winAcc{shakeLat: newHist(), openLat: newHist(), late: newHist()}
}

func (w *winAcc) reset() {
	w.c = Counts{}
	resetHist(w.shakeLat)
	resetHist(w.openLat)
	resetHist(w.late)
}

// resetHist resets h unless it is empty already: a reset clears every
// count (17,000 of them), every second, in every window of an idle agent.
func resetHist(h *hdrhistogram.Histogram) {
	if h.TotalCount() != 0 {
		h.Reset()
	}
}

// mergeHist merges from into h unless from is empty.
func mergeHist(h, from *hdrhistogram.Histogram) {
	if from.TotalCount() != 0 {
		h.Merge(from)
	}
}

// exportHist is h's snapshot. An empty one carries no counts (Import
// zero-fills them) instead of a copy of every zero.
func exportHist(h *hdrhistogram.Histogram) *hdrhistogram.Snapshot {
	if h.TotalCount() != 0 {
		return h.Export()
	}
	return &hdrhistogram.Snapshot{LowestTrackableValue: h.LowestTrackableValue(),
		HighestTrackableValue: h.HighestTrackableValue(), SignificantFigures: h.SignificantFigures(), Counts: []int64{}}
}

// windows is a loop's open seconds: base and the few after it.
type windows struct {
	base int64 // oldest open second
	ring [4]*winAcc
}

func (ws *windows) init(base int64) {
	ws.base = base
	for i := range ws.ring {
		ws.ring[i] = newWinAcc()
	}
}

// at is the accumulator of the second holding t (Unix ns). Events before
// the oldest open second (a clock stepped back) land in it; events beyond
// the ring land in its last second.
func (ws *windows) at(t int64) *winAcc {
	d := t/1e9 - ws.base
	if d < 0 {
		d = 0
	} else if d >= int64(len(ws.ring)) {
		d = int64(len(ws.ring)) - 1
	}
	return ws.ring[(ws.base+d)%int64(len(ws.ring))]
}

func (ws *windows) oldest() *winAcc { return ws.ring[ws.base%int64(len(ws.ring))] }

// partial is a window some loops have contributed to.
type partial struct {
	w                       Window
	n                       int
	shakeLat, openLat, late *hdrhistogram.Histogram
}

// assembler merges the loops' seconds into windows and keeps the backlog.
type assembler struct {
	agent string
	loops int
	limit int

	mu      sync.Mutex // guards the fields below
	parts   map[int64]*partial
	ready   []Window
	dropped uint64
	spare   []*partial
}

func newAssembler(agent string, loops, limit int) *assembler {
	return &assembler{agent: agent, loops: loops, limit: limit, parts: make(map[int64]*partial)}
}

// add merges one loop's second; acc may be reset once add returns.
func (a *assembler) add(sec int64, acc *winAcc, established int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.parts[sec]
	if p == nil {
		if n := len(a.spare); n > 0 {
			p, a.spare = a.spare[n-1], a.spare[:n-1]
		} else {
			p = &partial{shakeLat: newHist(), openLat: newHist(), late: newHist()}
		}
		p.w = Window{Agent: a.agent, Second: sec}
		p.n = 0
		a.parts[sec] = p
	}
	p.w.Counts.Add(&acc.c)
	p.w.Established += established
	mergeHist(p.shakeLat, acc.shakeLat)
	mergeHist(p.openLat, acc.openLat)
	mergeHist(p.late, acc.late)
	p.n++
	if p.n < a.loops {
		return
	}
	// Seconds older than this one that some loop skipped (its clock
	// leapt) will never complete: hand them out as they are, in order.
	var older []int64
	for s := range a.parts {
		if s < sec {
			older = append(older, s)
		}
	}
	slices.Sort(older)
	for _, s := range older {
		a.complete(s)
	}
	a.complete(sec)
}

// complete moves the window of sec to the backlog; a.mu must be held.
func (a *assembler) complete(sec int64) {
	p := a.parts[sec]
	delete(a.parts, sec)
	p.w.ShakeLatency = exportHist(p.shakeLat)
	p.w.OpenLatency = exportHist(p.openLat)
	p.w.Lateness = exportHist(p.late)
	if len(a.ready) >= a.limit {
		a.ready = a.ready[1:]
		a.dropped++
	}
	a.ready = append(a.ready, p.w)
	resetHist(p.shakeLat)
	resetHist(p.openLat)
	resetHist(p.late)
	a.spare = append(a.spare, p)
}

// take hands out the completed windows, oldest first.
func (a *assembler) take() ([]Window, uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.ready
	a.ready = nil
	return w, a.dropped
}

// peek is the backlog length and the dropped count.
func (a *assembler) peek() (int, uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ready), a.dropped
}
