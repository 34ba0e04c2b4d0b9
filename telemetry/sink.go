package telemetry

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Sink receives points. Write must not block the caller for long and never
// on the network: sinks buffer, and drop and count what they cannot keep.
// Write takes ownership of the points' slices; callers build fresh points
// for every write.
type Sink interface {
	Write(ps ...Point)
	Close() error
	Stats() SinkStats
}

// SinkStats counts what a sink did with the points it was given.
type SinkStats struct {
	Written   int64  // handed on (to the file, or to the InfluxDB client)
	Dropped   int64  // lost: queue full, sink closed, or invalid point
	Errors    int64  // write or encoding errors
	LastError string // the latest error, for status output
}

// sinkStats is the concurrent counterpart of SinkStats.
type sinkStats struct {
	written, dropped, errors atomic.Int64
	mu                       sync.Mutex
	lastError                string // mu guards lastError
}

func (s *sinkStats) fail(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	s.lastError = err.Error()
	s.mu.Unlock()
}

func (s *sinkStats) snapshot() SinkStats {
	s.mu.Lock()
	last := s.lastError
	s.mu.Unlock()
	return SinkStats{
		Written:   s.written.Load(),
		Dropped:   s.dropped.Load(),
		Errors:    s.errors.Load(),
		LastError: last,
	}
}

// Tee writes every point to each of its sinks.
type Tee []Sink

var _ Sink = Tee(nil)

// Write hands the points to every sink; the sinks share the point slices,
// which sinks only read.
func (t Tee) Write(ps ...Point) {
	for _, s := range t {
		s.Write(ps...)
	}
}

// Close closes every sink and joins their errors.
func (t Tee) Close() error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Stats adds the sinks' counters; LastError is the first sink's that has one.
func (t Tee) Stats() SinkStats {
	var sum SinkStats
	for _, s := range t {
		st := s.Stats()
		sum.Written += st.Written
		sum.Dropped += st.Dropped
		sum.Errors += st.Errors
		if sum.LastError == "" {
			sum.LastError = st.LastError
		}
	}
	return sum
}

// SinkFunc adapts a function to a Sink, for callbacks and tests.
type SinkFunc func(ps ...Point)

var _ Sink = SinkFunc(nil)

// Write calls f.
func (f SinkFunc) Write(ps ...Point) { f(ps...) }

// Close does nothing.
func (f SinkFunc) Close() error { return nil }

// Stats is empty: a function keeps no count.
func (f SinkFunc) Stats() SinkStats { return SinkStats{} }
