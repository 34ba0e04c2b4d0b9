package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxlog "github.com/influxdata/influxdb-client-go/v2/log"
	"golang.org/x/time/rate"
)

// Defaults of InfluxConfig.
const (
	DefaultInfluxBucket        = "hb/autogen" // database/retention policy on InfluxDB 1.8
	DefaultInfluxQueue         = 8192
	DefaultInfluxBatch         = 1000
	DefaultInfluxFlush         = time.Second
	DefaultInfluxHTTPTimeout   = 5 * time.Second
	DefaultInfluxRetryInterval = time.Second
	DefaultInfluxMaxRetryDelay = 5 * time.Second
	DefaultInfluxCloseTimeout  = 5 * time.Second
)

// InfluxConfig configures an InfluxSink. Zero fields take the defaults.
type InfluxConfig struct {
	URL    string // http://host:8086
	Bucket string // "db/rp" on InfluxDB 1.8
	Org    string // ignored by InfluxDB 1.8
	Token  string // "user:password" on InfluxDB 1.8, empty without auth

	QueueSize     int           // points held while the client is busy; beyond, dropped
	BatchSize     int           // points per HTTP write
	FlushInterval time.Duration // longest a point waits in the client's batch
	HTTPTimeout   time.Duration // one HTTP write, so a hung server cannot hold batches for long
	// RetryInterval and MaxRetryDelay bound the client's backoff, so writing
	// resumes within MaxRetryDelay of InfluxDB coming back.
	RetryInterval time.Duration
	MaxRetryDelay time.Duration
	CloseTimeout  time.Duration // how long Close waits for the last points to go out
	Logger        *slog.Logger
}

func (c *InfluxConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Bucket == "" {
		c.Bucket = DefaultInfluxBucket
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultInfluxQueue
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultInfluxBatch
	}
	def(&c.FlushInterval, DefaultInfluxFlush)
	def(&c.HTTPTimeout, DefaultInfluxHTTPTimeout)
	def(&c.RetryInterval, DefaultInfluxRetryInterval)
	def(&c.MaxRetryDelay, DefaultInfluxMaxRetryDelay)
	def(&c.CloseTimeout, DefaultInfluxCloseTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ErrNoInfluxURL is returned by NewInfluxSink without a URL.
var ErrNoInfluxURL = errors.New("no InfluxDB URL")

// InfluxSink writes points to InfluxDB (1.8 or 2.x) through
// influxdb-client-go's non-blocking WriteAPI.
//
// That WriteAPI itself blocks its caller while a batch is in flight, so the
// sink puts a bounded queue of its own in front, fed to the client by one
// goroutine: Write never waits; when the queue is full, points are dropped
// and counted. Asynchronous write errors are drained from the client and
// surfaced in Stats and the log.
type InfluxSink struct {
	cfg    InfluxConfig
	client influxdb2.Client
	api    api.WriteAPI
	queue  chan Point
	stop   chan struct{}
	done   chan struct{} // feeder finished and the client closed
	closed atomic.Bool
	stats  sinkStats

	logDrop, logErr rate.Sometimes
}

var _ Sink = (*InfluxSink)(nil)

var quietClientLog sync.Once

// NewInfluxSink starts a sink. It does not contact the server: a dead
// InfluxDB at start behaves like one that dies later (points queue, then
// drop and count); use Ping to check it.
func NewInfluxSink(cfg InfluxConfig) (*InfluxSink, error) {
	cfg.setDefaults()
	if cfg.URL == "" {
		return nil, ErrNoInfluxURL
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influx sink: URL %q: want http(s)://host:port", cfg.URL)
	}
	// The client logs every failed batch to stderr through its global
	// logger; the sink reports errors itself, so route the client's lines to
	// slog (see clientLog).
	quietClientLog.Do(func() { influxlog.Log = clientLog{cfg.Logger, &rate.Sometimes{First: 1, Interval: 10 * time.Second}} })

	opts := influxdb2.DefaultOptions().
		SetBatchSize(uint(cfg.BatchSize)).
		SetFlushInterval(uint(cfg.FlushInterval.Milliseconds())).
		SetHTTPRequestTimeout(uint(max(1, cfg.HTTPTimeout.Round(time.Second)/time.Second))).
		SetRetryInterval(uint(cfg.RetryInterval.Milliseconds())).
		SetMaxRetryInterval(uint(cfg.MaxRetryDelay.Milliseconds())).
		SetMaxRetries(30).
		SetMaxRetryTime(uint((2 * time.Minute).Milliseconds())).
		SetRetryBufferLimit(uint(max(cfg.BatchSize, 100_000))).
		SetPrecision(time.Nanosecond)
	s := &InfluxSink{
		cfg:     cfg,
		client:  influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts),
		queue:   make(chan Point, cfg.QueueSize),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		logDrop: rate.Sometimes{First: 1, Interval: 10 * time.Second},
		logErr:  rate.Sometimes{First: 1, Interval: 10 * time.Second},
	}
	s.api = s.client.WriteAPI(cfg.Org, cfg.Bucket)
	errs := s.api.Errors() // before any write, or the client discards errors
	go s.drainErrors(errs)
	go s.feed()
	return s, nil
}

// Write queues the points without ever blocking; when the queue is full
// (InfluxDB slow or gone) they are dropped and counted.
func (s *InfluxSink) Write(ps ...Point) {
	if s.closed.Load() {
		s.stats.dropped.Add(int64(len(ps)))
		return
	}
	for i := range ps {
		select {
		case s.queue <- ps[i]:
		default:
			s.stats.dropped.Add(1)
			s.logDrop.Do(func() {
				s.cfg.Logger.Warn("influx sink queue full, dropping points",
					"url", s.cfg.URL, "queue", s.cfg.QueueSize, "dropped", s.stats.dropped.Load())
			})
		}
	}
}

// feed is the one goroutine that hands points to the client, whose
// WriteRecord may block while a batch is in flight.
func (s *InfluxSink) feed() {
	defer close(s.done)
	var buf []byte
	send := func(p *Point) {
		var err error
		buf, err = AppendLineProtocol(buf[:0], p)
		if err != nil {
			s.stats.dropped.Add(1)
			s.stats.fail(err)
			return
		}
		s.api.WriteRecord(string(buf[:len(buf)-1])) // the client adds the newline
		s.stats.written.Add(1)
	}
	for {
		select {
		case p := <-s.queue:
			send(&p)
		case <-s.stop:
			for {
				select {
				case p := <-s.queue:
					send(&p)
				default:
					s.client.Close() // flushes, then closes the errors channel
					return
				}
			}
		}
	}
}

func (s *InfluxSink) drainErrors(errs <-chan error) {
	for err := range errs {
		err = fmt.Errorf("influx write to %s: %w", s.cfg.URL, err)
		s.stats.fail(err)
		s.logErr.Do(func() {
			s.cfg.Logger.Warn("influx sink write failed", "err", err, "errors", s.stats.errors.Load())
		})
	}
}

// Ping checks that the server answers.
func (s *InfluxSink) Ping(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.cfg.URL, err)
	}
	if !ok {
		return fmt.Errorf("ping %s: not ready", s.cfg.URL)
	}
	return nil
}

// Close sends what is queued and closes the client, waiting at most
// CloseTimeout; points written after Close are dropped.
func (s *InfluxSink) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stop)
	select {
	case <-s.done:
		return nil
	case <-time.After(s.cfg.CloseTimeout):
		err := fmt.Errorf("influx sink: close: points still unsent to %s after %v", s.cfg.URL, s.cfg.CloseTimeout)
		s.stats.fail(err)
		return err
	}
}

// Stats reports the sink's counters. Written counts points handed to the
// client; a batch the client later gives up on shows in Errors.
func (s *InfluxSink) Stats() SinkStats { return s.stats.snapshot() }

// clientLog routes influxdb-client-go's own log lines to slog. Its errors
// about failed batches reach Stats through the errors channel, so they go to
// debug; its warnings are kept visible because they are the only trace of a
// batch InfluxDB refused for good (a field type conflict, a parse error),
// which the client drops without an error. Lines about discarded batches are
// kept visible too.
type clientLog struct {
	l    *slog.Logger
	loud *rate.Sometimes
}

func (c clientLog) emit(warn bool, m string) {
	if warn || strings.Contains(m, "discard") {
		c.loud.Do(func() { c.l.Warn(m, "src", "influxdb2client") })
		return
	}
	c.l.Debug(m, "src", "influxdb2client")
}

func (c clientLog) Debugf(f string, v ...any) {
	if c.l.Enabled(context.Background(), slog.LevelDebug) {
		c.l.Debug(fmt.Sprintf(f, v...), "src", "influxdb2client")
	}
}
func (c clientLog) Debug(m string)            { c.l.Debug(m, "src", "influxdb2client") }
func (c clientLog) Infof(f string, v ...any)  { c.Debugf(f, v...) }
func (c clientLog) Info(m string)             { c.Debug(m) }
func (c clientLog) Warnf(f string, v ...any)  { c.emit(true, fmt.Sprintf(f, v...)) }
func (c clientLog) Warn(m string)             { c.emit(true, m) }
func (c clientLog) Errorf(f string, v ...any) { c.emit(false, fmt.Sprintf(f, v...)) }
func (c clientLog) Error(m string)            { c.emit(false, m) }
func (c clientLog) SetLogLevel(uint)          {}
func (c clientLog) LogLevel() uint            { return influxlog.DebugLevel }
func (c clientLog) SetPrefix(string)          {}
