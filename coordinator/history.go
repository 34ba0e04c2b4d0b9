package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hbctl/hbctl/coordinator/schedule"
)

// HistoryFile keeps, in the data dir, every plan the agents ran and when
// (the coordinator's history), rewritten on every change. A restarted
// coordinator reads it back: the bounds verification draws from the plans
// (an agent's or a server's crash window) still cover the faults before
// the restart.
const HistoryFile = "plans.json"

// savedEpoch is one epoch of HistoryFile; a nil Plan is a disconnect.
type savedEpoch struct {
	Start int64          `json:"start_ns"`
	Plan  *schedule.Plan `json:"plan,omitempty"`
}

func readHistory(dir string) ([]epoch, error) {
	b, err := os.ReadFile(filepath.Join(dir, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plan history: %w", err)
	}
	var saved []savedEpoch
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("plan history %s: %w", HistoryFile, err)
	}
	out := make([]epoch, len(saved))
	for i, e := range saved {
		out[i] = epoch{start: e.Start, plan: e.Plan}
	}
	return out, nil
}

// saveHistoryLocked rewrites HistoryFile if the history changed (a plan
// added, a rate set). It is replaced by rename, so a kill leaves the old
// or the new one whole. mu must be held.
func (c *Coordinator) saveHistoryLocked() {
	saved := make([]savedEpoch, len(c.history))
	for i, e := range c.history {
		saved[i] = savedEpoch{Start: e.start, Plan: e.plan}
	}
	b, err := json.Marshal(saved)
	if err != nil {
		c.log.Error("encode plan history", "err", err)
		return
	}
	if bytes.Equal(b, c.histSaved) {
		return
	}
	path := filepath.Join(c.cfg.DataDir, HistoryFile)
	err = os.WriteFile(path+".tmp", b, 0o644)
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		c.log.Error("write plan history", "err", err)
		return
	}
	c.histSaved = b
}
