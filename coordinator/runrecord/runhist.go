package runrecord

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hbctl/hbctl/coordinator/api"
)

// RunHistogramsFile holds the whole run's merged histograms in the data
// dir, rewritten atomically every RunHistogramsEvery and on Close, so that
// `hbctl report` gives exact run-wide percentiles instead of the bounds the
// per-second figures of the timeline allow.
const RunHistogramsFile = "run-histograms.json"

// RunHistograms is RunHistogramsFile: every window the coordinator merged
// since it started (late ones included), as exported HdrHistogram
// snapshots in microseconds.
type RunHistograms struct {
	Written int64 `json:"written_ms"` // Unix ms
	// First and Last are the first and last second any window covered
	// (Unix seconds), 0 before the first window.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	api.Counters
	Shake    *hdrhistogram.Snapshot `json:"shake"`
	Open     *hdrhistogram.Snapshot `json:"open"`
	Lateness *hdrhistogram.Snapshot `json:"lateness"`
}

// ReadRunHistograms reads dir's RunHistogramsFile; the snapshots are
// validated, so Merge of them is exact.
func ReadRunHistograms(dir string) (*RunHistograms, error) {
	b, err := os.ReadFile(filepath.Join(dir, RunHistogramsFile))
	if err != nil {
		return nil, err
	}
	var rh RunHistograms
	if err := json.Unmarshal(b, &rh); err != nil {
		return nil, fmt.Errorf("%s: %w", RunHistogramsFile, err)
	}
	for name, s := range map[string]*hdrhistogram.Snapshot{"shake": rh.Shake, "open": rh.Open, "lateness": rh.Lateness} {
		if s == nil {
			continue
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %s histogram: %w", RunHistogramsFile, name, err)
		}
	}
	return &rh, nil
}

// WriteRunHistograms replaces dir's RunHistogramsFile atomically (a
// temporary file renamed over it), so a reader never sees half of one.
func WriteRunHistograms(dir string, rh *RunHistograms) error {
	b, err := json.Marshal(rh)
	if err != nil {
		return fmt.Errorf("encode run histograms: %w", err)
	}
	f, err := os.CreateTemp(dir, RunHistogramsFile+".*")
	if err != nil {
		return fmt.Errorf("write run histograms: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, RunHistogramsFile))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write run histograms: %w", err)
	}
	return nil
}
