package coordinator

import (
	"time"

	"github.com/hbctl/hbctl/coordinator/runrecord"
	"github.com/hbctl/hbctl/telemetry"
)

// RunHistogramsFile is runrecord.RunHistogramsFile.
const RunHistogramsFile = runrecord.RunHistogramsFile

// RunHistogramsEvery is how often the coordinator rewrites RunHistogramsFile.
const RunHistogramsEvery = 5 * time.Second

// RunHistograms is runrecord.RunHistograms.
type RunHistograms = runrecord.RunHistograms

// ReadRunHistograms is runrecord.ReadRunHistograms.
func ReadRunHistograms(dir string) (*RunHistograms, error) { return runrecord.ReadRunHistograms(dir) }

// WriteRunHistograms is runrecord.WriteRunHistograms.
func WriteRunHistograms(dir string, rh *RunHistograms) error {
	return runrecord.WriteRunHistograms(dir, rh)
}

// runHistograms snapshots the run's histograms.
func (t *timeline) runHistograms(now time.Time) RunHistograms {
	t.mu.Lock()
	defer t.mu.Unlock()
	return RunHistograms{
		Written: now.UnixMilli(), First: t.firstSec, Last: t.lastSec, Counters: t.run,
		Shake: telemetry.Export(t.runShake), Open: telemetry.Export(t.runOpen), Lateness: telemetry.Export(t.runLate),
	}
}

// seen widens the run's span to second s. t.mu must be held.
func (t *timeline) seen(s int64) {
	if t.firstSec == 0 || s < t.firstSec {
		t.firstSec = s
	}
	t.lastSec = max(t.lastSec, s)
}

// maybeWriteRunHistograms rewrites RunHistogramsFile when RunHistogramsEvery
// has passed since the last write (always when force), once any window
// arrived. Called from the loop's goroutine and Close only.
func (c *Coordinator) maybeWriteRunHistograms(now time.Time, force bool) {
	if !force && now.Sub(c.tl.histWritten.Load().(time.Time)) < RunHistogramsEvery {
		return
	}
	rh := c.tl.runHistograms(now)
	if rh.First == 0 {
		return
	}
	c.tl.histWritten.Store(now)
	err := WriteRunHistograms(c.cfg.DataDir, &rh)
	msg := ""
	if err != nil {
		msg = err.Error()
		c.log.Warn("run histograms not written", "err", err)
	}
	c.tl.histErr.Store(msg)
}
