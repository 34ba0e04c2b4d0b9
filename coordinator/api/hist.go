package api

import (
	"bytes"
	"fmt"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// maxHistCounts bounds the dense counts a Hist may describe: far more than
// any geometry hbctl uses (about 18,000 for 1 µs to 60 s at 3 digits), so
// that a bad index cannot make the coordinator allocate without limit.
const maxHistCounts = 1 << 20

// Hist is an HdrHistogram on the wire: its geometry and its non-zero
// counts as index, count pairs (Sparse). A second's latencies fill a few
// hundred of a histogram's thousands of buckets, and every agent sends
// three histograms a second: dense counts made the coordinator's JSON
// decoding of heartbeats its main cost, and under overload, when
// latencies reach seconds, more than the box could spare. The field names
// are hdrhistogram.Snapshot's, whose dense Counts are still read.
type Hist struct {
	LowestTrackableValue  int64
	HighestTrackableValue int64
	SignificantFigures    int64
	Counts                []int64 `json:",omitempty"` // dense, as in hdrhistogram.Snapshot
	Sparse                Pairs   `json:",omitempty"` // index, count, index, count, ... (non-zero counts)

	snap *hdrhistogram.Snapshot // Snapshot's result, made once
	err  error
}

// HistOf is s with only its non-zero counts; nil for nil.
func HistOf(s *hdrhistogram.Snapshot) *Hist {
	if s == nil {
		return nil
	}
	h := &Hist{LowestTrackableValue: s.LowestTrackableValue, HighestTrackableValue: s.HighestTrackableValue,
		SignificantFigures: s.SignificantFigures}
	for i, c := range s.Counts {
		if c != 0 {
			h.Sparse = append(h.Sparse, int64(i), c)
		}
	}
	return h
}

// Empty reports whether h holds no counts.
func (h *Hist) Empty() bool {
	return h == nil || len(h.Counts) == 0 && len(h.Sparse) == 0
}

// Snapshot is h with dense counts, validated (hdrhistogram's Validate), for
// hdrhistogram.Import. It is computed once.
func (h *Hist) Snapshot() (*hdrhistogram.Snapshot, error) {
	if h == nil {
		return nil, fmt.Errorf("no histogram")
	}
	if h.snap != nil || h.err != nil {
		return h.snap, h.err
	}
	s := &hdrhistogram.Snapshot{LowestTrackableValue: h.LowestTrackableValue,
		HighestTrackableValue: h.HighestTrackableValue, SignificantFigures: h.SignificantFigures, Counts: h.Counts}
	if len(h.Sparse) > 0 {
		if len(h.Counts) > 0 {
			h.err = fmt.Errorf("histogram has both dense and sparse counts")
			return nil, h.err
		}
		if s.Counts, h.err = denseCounts(h.Sparse); h.err != nil {
			return nil, h.err
		}
	}
	if err := s.Validate(); err != nil {
		h.err = err
		return nil, err
	}
	h.snap = s
	return s, nil
}

// denseCounts is the dense form of sparse index, count pairs, whose
// indexes must rise.
func denseCounts(sparse Pairs) ([]int64, error) {
	if len(sparse)%2 != 0 {
		return nil, fmt.Errorf("sparse counts: odd length %d", len(sparse))
	}
	last := sparse[len(sparse)-2]
	if last < 0 || last >= maxHistCounts {
		return nil, fmt.Errorf("sparse counts: index %d out of range", last)
	}
	counts := make([]int64, last+1)
	prev := int64(-1)
	for i := 0; i < len(sparse); i += 2 {
		idx := sparse[i]
		if idx <= prev || idx > last {
			return nil, fmt.Errorf("sparse counts: index %d after %d, or past the last (%d)", idx, prev, last)
		}
		counts[idx] = sparse[i+1] // Validate rejects negative counts and overflow
		prev = idx
	}
	return counts, nil
}

// Pairs is a flat array of integers, read without encoding/json's
// reflection per element, which cost the coordinator more than all else
// it does with a heartbeat.
type Pairs []int64

// UnmarshalJSON reads a JSON array of integers (or null).
func (p *Pairs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*p = nil
		return nil
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return fmt.Errorf("sparse counts: not an array of integers")
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	out := (*p)[:0]
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		tok := b
		if i >= 0 {
			tok, b = b[:i], b[i+1:]
			if len(bytes.TrimSpace(b)) == 0 {
				return fmt.Errorf("sparse counts: trailing comma")
			}
		} else {
			b = nil
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(tok)), 10, 64)
		if err != nil {
			return fmt.Errorf("sparse counts: %w", err)
		}
		out = append(out, v)
	}
	*p = out
	return nil
}
