package coordinator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
	"github.com/hbctl/hbctl/coordinator/runrecord"
)

// The run timeline's records live in coordinator/runrecord, so that readers
// of a data dir need not import the coordinator.
const TimelineFile = runrecord.TimelineFile

type (
	// TimelineSecond is runrecord.TimelineSecond.
	TimelineSecond = runrecord.TimelineSecond
	// AgentSecond is runrecord.AgentSecond.
	AgentSecond = runrecord.AgentSecond
	// TimelineEvent is runrecord.TimelineEvent.
	TimelineEvent = runrecord.TimelineEvent
)

// pendingSecond collects the windows of one second until it is final.
type pendingSecond struct {
	c                     api.Counters
	shake, open, lateness *hdrhistogram.Histogram
	agents                map[string]AgentSecond
	snaps                 map[string]*agentSnaps // per agent, merged when the second is final
}

// timeline aggregates agents' windows into seconds and writes them.
type timeline struct {
	mu       sync.Mutex
	f        *os.File                 // mu
	w        *bufio.Writer            // mu
	pending  map[int64]*pendingSecond // mu
	flushed  int64                    // mu: last second written, 0 before the first
	done     []TimelineSecond         // mu: the last SecondsKept seconds
	events   []TimelineEvent          // mu: the last EventsKept events
	run      api.Counters             // mu
	runShake *hdrhistogram.Histogram  // mu
	runOpen  *hdrhistogram.Histogram  // mu
	runLate  *hdrhistogram.Histogram  // mu
	late     int64                    // mu: windows that arrived after their second was written
	rejected int64                    // mu: windows refused for a second too far from now
	sink     Sink
	log      *slog.Logger
	// srv holds the servers' own per-second counts; nil for none.
	// Lock order: mu, then srv's.
	srv *serverRates
	// serverWait is how many seconds past upTo a second may wait for srv.
	serverWait int64
	writeErrs  int64 // mu
	// agentState is each agent's connections and clock as last reported,
	// set by the coordinator's loop before every flush.
	agentState map[string]agentState // mu
	// firstSec and lastSec span every window merged into run.
	firstSec, lastSec int64 // mu
	// histWritten (time.Time) and histErr (string) are the last write of
	// RunHistogramsFile and its error, touched by the loop only.
	histWritten, histErr atomic.Value
}

func openTimeline(dir string, sink Sink, log *slog.Logger) (*timeline, error) {
	f, err := os.OpenFile(filepath.Join(dir, TimelineFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open timeline: %w", err)
	}
	tl := &timeline{
		f: f, w: bufio.NewWriter(f),
		pending:  map[int64]*pendingSecond{},
		runShake: newHist(), runOpen: newHist(), runLate: newHist(),
		sink: sink, log: log,
	}
	tl.histWritten.Store(time.Time{})
	tl.histErr.Store("")
	return tl, nil
}

// Windows further than this from the coordinator's clock are refused: they
// come from a broken clock or a garbled report, and would otherwise make
// the timeline fill the distance with empty seconds.
const (
	windowMaxAge    = 600 // seconds
	windowMaxLead   = 60  // seconds
	flushMaxSeconds = 2 * windowMaxAge
)

// add merges one agent's windows, at coordinator time nowSec.
func (t *timeline) add(agentName string, ws []api.Window, nowSec int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range ws {
		w := &ws[i]
		if w.T < nowSec-windowMaxAge || w.T > nowSec+windowMaxLead {
			t.rejected++
			t.log.Warn("window refused: its second is too far from now", "agent", agentName, "second", w.T, "now", nowSec)
			continue
		}
		addCounters(&t.run, w)
		t.seen(w.T)
		mergeHist(t.runShake, w.ShakeLatency)
		mergeHist(t.runOpen, w.OpenLatency)
		mergeHist(t.runLate, w.Lateness)
		if t.flushed != 0 && w.T <= t.flushed {
			t.late++
			t.log.Warn("window arrived after its second was final", "agent", agentName, "second", w.T, "final_up_to", t.flushed, "sent", w.Sent)
			continue
		}
		p := t.pending[w.T]
		if p == nil {
			p = &pendingSecond{shake: newHist(), open: newHist(), lateness: newHist(),
				agents: map[string]AgentSecond{}, snaps: map[string]*agentSnaps{}}
			t.pending[w.T] = p
		}
		addCounters(&p.c, w)
		mergeHist(p.shake, w.ShakeLatency)
		mergeHist(p.open, w.OpenLatency)
		mergeHist(p.lateness, w.Lateness)
		as := p.agents[agentName]
		as.Sent += w.Sent
		as.Received += w.Received
		as.Missed += w.Missed
		as.Lost += w.Lost
		addAgentCounters(&as, w)
		p.agents[agentName] = as
		p.snapsOf(agentName).add(w)
	}
}

func addCounters(c *api.Counters, w *api.Window) {
	c.Sent += w.Sent
	c.Received += w.Received
	c.Got += w.Got
	c.None += w.None
	c.Overloaded += w.Overloaded
	c.Missed += w.Missed
	c.Skipped += w.Skipped
	c.Unanswered += w.Unanswered
	c.Lost += w.Lost
	c.OpenSent += w.OpenSent
	c.OpenAnswered += w.OpenAnswered
	c.GrantAmount += w.GrantAmount
	c.OpenAmount += w.OpenAmount
}

// flush makes final every second up to and including upTo, contiguously
// from the first second any agent reported, and writes them.
func (t *timeline) flush(upTo int64, target func(sec int64) int64, conns api.Connections) {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := t.flushed + 1
	if t.flushed == 0 {
		if len(t.pending) == 0 {
			return
		}
		from = upTo + 1
		for s := range t.pending {
			from = min(from, s)
		}
	}
	if upTo-from > flushMaxSeconds {
		from = upTo - flushMaxSeconds
	}
	for s := from; s <= upTo; s++ {
		if t.srv != nil && s > upTo-t.serverWait && t.srv.pending(s) {
			break // written by a later flush, with the servers' count or without
		}
		ts := TimelineSecond{T: s, Target: target(s), Connections: conns}
		if t.srv != nil {
			if n, missing, ok := t.srv.at(s); ok {
				ts.ServerReceived, ts.ServersMissing = &n, missing
			}
		}
		if p := t.pending[s]; p != nil {
			ts.Counters = p.c
			ts.Shake = percentiles(p.shake)
			ts.Open = percentiles(p.open)
			ts.Lateness = percentiles(p.lateness)
			ts.Agents = p.agents
			t.finishAgents(p)
			delete(t.pending, s)
		}
		t.flushed = s
		t.done = append(t.done, ts)
		if len(t.done) > SecondsKept {
			t.done = t.done[len(t.done)-SecondsKept:]
		}
		t.writeLine(ts)
		if t.sink != nil {
			t.sink.Second(ts)
		}
	}
	if err := t.w.Flush(); err != nil {
		t.writeErrs++
	}
}

// event records a phase change at once.
func (t *timeline) event(e TimelineEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
	if len(t.events) > EventsKept {
		t.events = t.events[len(t.events)-EventsKept:]
	}
	t.writeLine(e)
	if err := t.w.Flush(); err != nil {
		t.writeErrs++
	}
	if t.sink != nil {
		t.sink.Event(e)
	}
}

// writeLine appends one JSON line. mu must be held.
func (t *timeline) writeLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.writeErrs++
		return
	}
	t.w.Write(b)
	t.w.WriteByte('\n')
}

// fill copies the status views of the timeline into st.
func (t *timeline) fill(st *api.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st.Seconds = make([]api.SecondBrief, 0, len(t.done))
	for _, s := range t.done {
		st.Seconds = append(st.Seconds, api.SecondBrief{T: s.T, Target: s.Target, Sent: s.Sent, Received: s.Received,
			ServerReceived: s.ServerReceived, P99: s.Shake.P99})
	}
	if n := len(t.done); n > 0 {
		s := t.done[n-1]
		st.Last = &api.SecondSummary{T: s.T, Target: s.Target, Counters: s.Counters, ServerReceived: s.ServerReceived,
			Shake: s.Shake, Open: s.Open, Lateness: s.Lateness}
	}
	if t.srv != nil {
		st.ServerStatsErrors = t.srv.failures()
	}
	st.Run = api.RunSummary{Counters: t.run, Shake: percentiles(t.runShake), Open: percentiles(t.runOpen), Lateness: percentiles(t.runLate)}
	st.Events = append([]api.Event(nil), t.events...)
	st.LateWindows = t.late
	st.RejectedWindows = t.rejected
}

func (t *timeline) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Flush(); err != nil {
		t.f.Close()
		return fmt.Errorf("flush timeline: %w", err)
	}
	return t.f.Close()
}
