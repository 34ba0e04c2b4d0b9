package telemetry

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Window accumulates one interval (normally one second) of named counters
// and latency histograms. Cut closes the interval and starts the next. It is
// safe for concurrent use; a hot path that records from many goroutines
// should keep one Window per goroutine and merge the snapshots, as
// HdrHistogram intends.
type Window struct {
	mu sync.Mutex
	// mu guards the fields below.
	start    time.Time
	counters map[string]int64
	hists    map[string]*hdrhistogram.Histogram
}

// WindowSnapshot is a closed window as agents ship it (JSON-able).
type WindowSnapshot struct {
	Start    time.Time                         `json:"start"`
	End      time.Time                         `json:"end"`
	Counters map[string]int64                  `json:"counters,omitempty"`
	Latency  map[string]*hdrhistogram.Snapshot `json:"latency,omitempty"`
}

// NewWindow starts a window at start.
func NewWindow(start time.Time) *Window {
	return &Window{
		start:    start,
		counters: make(map[string]int64),
		hists:    make(map[string]*hdrhistogram.Histogram),
	}
}

// Add adds n to the counter name.
func (w *Window) Add(name string, n int64) {
	w.mu.Lock()
	w.counters[name] += n
	w.mu.Unlock()
}

// Observe records a latency under name (a command, usually).
func (w *Window) Observe(name string, d time.Duration) {
	w.mu.Lock()
	h := w.hists[name]
	if h == nil {
		h = NewHistogram()
		w.hists[name] = h
	}
	RecordDuration(h, d)
	w.mu.Unlock()
}

// Cut closes the current window at now, returns it, and starts the next one
// at now. Counters that were used keep appearing (as 0) in later windows, so
// a quiet second reads as zero rather than as missing; histograms with no
// values are left out.
func (w *Window) Cut(now time.Time) WindowSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := WindowSnapshot{Start: w.start, End: now}
	if len(w.counters) > 0 {
		s.Counters = make(map[string]int64, len(w.counters))
		for k, v := range w.counters {
			s.Counters[k] = v
			w.counters[k] = 0
		}
	}
	for k, h := range w.hists {
		if h.TotalCount() == 0 {
			continue
		}
		if s.Latency == nil {
			s.Latency = make(map[string]*hdrhistogram.Snapshot, len(w.hists))
		}
		s.Latency[k] = Export(h)
		h.Reset()
	}
	w.start = now
	return s
}

// MergeWindows sums the counters and merges the histograms of windows from
// several agents (or several seconds).
func MergeWindows(ws ...WindowSnapshot) (counters map[string]int64, latency map[string]*hdrhistogram.Histogram) {
	counters = make(map[string]int64)
	byName := make(map[string][]*hdrhistogram.Snapshot)
	for _, w := range ws {
		for k, v := range w.Counters {
			counters[k] += v
		}
		for k, s := range w.Latency {
			byName[k] = append(byName[k], s)
		}
	}
	latency = make(map[string]*hdrhistogram.Histogram, len(byName))
	for k, snaps := range byName {
		latency[k] = Merge(snaps...)
	}
	return counters, latency
}
