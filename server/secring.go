package server

import "sync/atomic"

// secRing counts events per Unix second over the last ringSecs seconds.
// One goroutine adds; any may read. A slot is reused for second s+ringSecs
// only after s has left the reported window.
type secRing struct {
	slots [ringSecs]struct {
		sec atomic.Int64
		n   atomic.Int64
	}
}

// ringSecs exceeds the 120 reported seconds so that a slot being reset
// for a new second is never one being reported.
const ringSecs = 128

// ReportSecs is how many complete seconds Stats reports per second.
const ReportSecs = 120

func (r *secRing) add(sec int64) {
	s := &r.slots[sec%ringSecs]
	if s.sec.Load() != sec {
		s.n.Store(0)
		s.sec.Store(sec)
	}
	s.n.Add(1)
}

func (r *secRing) get(sec int64) int64 {
	s := &r.slots[sec%ringSecs]
	if s.sec.Load() != sec {
		return 0
	}
	return s.n.Load()
}
