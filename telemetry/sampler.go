package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultSampleInterval is how often a Sampler runs its collectors.
const DefaultSampleInterval = time.Second

// Sampler runs collectors on the wall-clock grid (every whole interval) and
// hands the points, tagged with the host name, to a sink or a callback.
type Sampler struct {
	out        func(ps ...Point)
	host       string
	interval   time.Duration
	collectors []Collector
	log        *slog.Logger
}

// SamplerOption configures a Sampler.
type SamplerOption func(*Sampler)

// WithHost sets the host tag (default: os.Hostname). Agents in network
// namespaces pass their own name.
func WithHost(name string) SamplerOption { return func(s *Sampler) { s.host = name } }

// WithInterval sets the sampling interval (default DefaultSampleInterval).
func WithInterval(d time.Duration) SamplerOption { return func(s *Sampler) { s.interval = d } }

// WithCollectors replaces the collectors (default DefaultCollectors()).
func WithCollectors(cs ...Collector) SamplerOption {
	return func(s *Sampler) { s.collectors = cs }
}

// WithSamplerLogger sets the logger for collector errors.
func WithSamplerLogger(l *slog.Logger) SamplerOption { return func(s *Sampler) { s.log = l } }

// NewSampler makes a sampler writing to out: pass a sink's Write, or any
// callback.
func NewSampler(out func(ps ...Point), opts ...SamplerOption) *Sampler {
	s := &Sampler{out: out, interval: DefaultSampleInterval, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.host == "" {
		s.host, _ = os.Hostname()
	}
	if s.collectors == nil {
		s.collectors = DefaultCollectors()
	}
	if s.interval <= 0 {
		s.interval = DefaultSampleInterval
	}
	return s
}

// Host is the host tag the sampler adds.
func (s *Sampler) Host() string { return s.host }

// Collect runs every collector once and returns their points with the host
// tag. A failing collector does not stop the others; its error is returned
// along with the points of the rest.
func (s *Sampler) Collect(now time.Time) ([]Point, error) {
	var all []Point
	var errs []error
	for _, c := range s.collectors {
		ps, err := c.Collect(now)
		if err != nil {
			errs = append(errs, fmt.Errorf("collector %T: %w", c, err))
		}
		for i := range ps {
			if s.host != "" {
				ps[i].SetTag("host", s.host)
			}
		}
		all = append(all, ps...)
	}
	return all, errors.Join(errs...)
}

// Run samples at every whole interval of the wall clock until ctx ends,
// then returns nil. Collector errors are logged, not fatal.
func (s *Sampler) Run(ctx context.Context) error {
	// A first round at once gives the CPU collector its baseline.
	s.round(time.Now())
	for {
		// Pace from the clock, not from relative sleeps, so rounds stay on
		// the grid shared with the other hosts' samplers.
		next := time.Now().Truncate(s.interval).Add(s.interval)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
			s.round(next)
		}
	}
}

func (s *Sampler) round(now time.Time) {
	ps, err := s.Collect(now)
	if err != nil {
		s.log.Warn("host sampling failed", "host", s.host, "err", err)
	}
	if len(ps) > 0 {
		s.out(ps...)
	}
}
