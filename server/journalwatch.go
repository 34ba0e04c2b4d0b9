package server

import (
	"time"
)

// journalFailed is told of every commit that failed (the journal's
// OnFail): it counts it and says why in the log, at most once a second.
func (s *Server) journalFailed(err error) {
	n := s.journalFails.Add(1)
	s.journalErr.Store(err.Error())
	s.journalLog.Do(func() {
		s.log.Error("journal cannot be written: granting and paying nothing, answering 17 (overloaded) until it can",
			"err", err, "failed_commits", n, "refused", s.journalRefused.Load())
	})
}

// deferred is a notification held back while the journal failed.
type deferred struct {
	w        *set
	env, uid uint32
}

// deferNotify keeps a notification for when the journal can record it.
func (s *Server) deferNotify(w *set, env, uid uint32) {
	s.deferMu.Lock()
	s.deferred = append(s.deferred, deferred{w: w, env: env, uid: uid})
	s.deferMu.Unlock()
}

// resumeNotify hands the held-back notifications to their loops, once
// the journal can be written again.
func (s *Server) resumeNotify() {
	s.deferMu.Lock()
	ds := s.deferred
	s.deferred = nil
	s.deferMu.Unlock()
	for _, d := range ds {
		if !d.w.loop.post(command{kind: cmdNotify, w: d.w, a: d.env, b: d.uid}) {
			return // closed
		}
	}
}

// watchJournal probes a failing journal once a second, saying so while it
// fails, and logs its recovery. It runs until Close.
func (s *Server) watchJournal() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if s.j.Healthy() {
			if failing {
				s.log.Info("journal writable again: granting and paying resumed", "refused", s.journalRefused.Load())
				failing = false
			}
			s.resumeNotify()
			continue
		}
		failing = true
		if err := s.j.Probe(); err != nil {
			s.journalErr.Store(err.Error())
			s.journalLog.Do(func() {
				s.log.Error("journal still cannot be written: granting and paying nothing, answering 17 (overloaded)",
					"err", err, "refused", s.journalRefused.Load())
			})
			continue
		}
		s.log.Info("journal writable again: granting and paying resumed", "refused", s.journalRefused.Load())
		failing = false
		s.resumeNotify()
	}
}

// waitJournal waits until the journal can be written again; false on
// Close. The producers use it: a release issues and sends nothing while
// the journal fails, then carries on.
func (s *Server) waitJournal() bool {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !s.j.Healthy() {
		select {
		case <-s.quit:
			return false
		case <-t.C:
		}
	}
	return true
}
