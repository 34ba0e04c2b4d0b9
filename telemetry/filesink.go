package telemetry

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MetricsFile is the file FileSink appends to, inside its directory.
const MetricsFile = "metrics.lp"

// DefaultFileFlush is how often FileSink writes its buffer to disk.
const DefaultFileFlush = time.Second

// ErrClosed is returned by operations on a closed sink.
var ErrClosed = errors.New("sink closed")

// FileSink is the embedded default sink: it appends line protocol to
// <dir>/metrics.lp, buffered, flushed every second and on Close, so a run
// without InfluxDB still leaves every point behind for `hbctl report`
// (read it back with ReadLineProtocol).
type FileSink struct {
	path  string
	log   *slog.Logger
	stats sinkStats
	stop  chan struct{}
	done  chan struct{}

	mu sync.Mutex
	// mu guards the fields below; held during the buffered write, which only
	// reaches the disk when the buffer fills (a local file, never the network).
	f      *os.File
	w      *bufio.Writer
	line   []byte
	closed bool
}

var _ Sink = (*FileSink)(nil)

// FileOption configures a FileSink.
type FileOption func(*fileConfig)

type fileConfig struct {
	flush time.Duration
	log   *slog.Logger
}

// WithFlushInterval changes how often the buffer is written out.
func WithFlushInterval(d time.Duration) FileOption {
	return func(c *fileConfig) { c.flush = d }
}

// WithFileLogger sets the logger for write errors (default slog.Default()).
func WithFileLogger(l *slog.Logger) FileOption {
	return func(c *fileConfig) { c.log = l }
}

// NewFileSink opens (creating if needed) dir/metrics.lp for appending.
func NewFileSink(dir string, opts ...FileOption) (*FileSink, error) {
	cfg := fileConfig{flush: DefaultFileFlush, log: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	path := filepath.Join(dir, MetricsFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	s := &FileSink{
		path: path,
		log:  cfg.log,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		f:    f,
		w:    bufio.NewWriterSize(f, 256<<10),
	}
	go s.flushLoop(cfg.flush)
	return s, nil
}

// Path is the file the sink appends to.
func (s *FileSink) Path() string { return s.path }

// Write encodes the points into the buffer. Invalid points are dropped and
// counted as errors.
func (s *FileSink) Write(ps ...Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.stats.dropped.Add(int64(len(ps)))
		return
	}
	for i := range ps {
		var err error
		s.line, err = AppendLineProtocol(s.line[:0], &ps[i])
		if err != nil {
			s.stats.dropped.Add(1)
			s.stats.fail(err)
			continue
		}
		if _, err := s.w.Write(s.line); err != nil {
			s.stats.dropped.Add(1)
			s.stats.fail(fmt.Errorf("write %s: %w", s.path, err))
			continue
		}
		s.stats.written.Add(1)
	}
}

func (s *FileSink) flushLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Flush(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("metrics file flush failed", "path", s.path, "err", err)
			}
		}
	}
}

// Flush writes the buffer to the file now.
func (s *FileSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.w.Flush(); err != nil {
		err = fmt.Errorf("flush %s: %w", s.path, err)
		s.stats.fail(err)
		return err
	}
	return nil
}

// Close flushes, syncs and closes the file. Later writes are dropped.
func (s *FileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.w.Flush()
	if err == nil {
		err = s.f.Sync()
	}
	err = errors.Join(err, s.f.Close())
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	if err != nil {
		err = fmt.Errorf("close %s: %w", s.path, err)
		s.stats.fail(err)
	}
	return err
}

// Stats reports what was written.
func (s *FileSink) Stats() SinkStats { return s.stats.snapshot() }
