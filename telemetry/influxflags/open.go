package influxflags

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hbctl/hbctl/telemetry"
)

// pingTimeout bounds the InfluxDB check at start.
const pingTimeout = 2 * time.Second

// Sinks are the metric sinks of one process: the file sink in its data dir,
// always, and InfluxDB when a URL was given, behind one Tee in Out.
type Sinks struct {
	File   *telemetry.FileSink
	Influx *telemetry.InfluxSink // nil without --influx-url
	Out    telemetry.Sink        // File, or Tee{File, Influx}
}

// Open opens dir's file sink (<dir>/metrics.lp, which `hbctl report` reads
// whether or not InfluxDB is used) and, with ic.URL, the InfluxDB sink. An
// InfluxDB that does not answer is logged, not fatal: its sink counts what
// it cannot write and resumes when InfluxDB comes back. Close Out when done.
func Open(ctx context.Context, dir string, ic telemetry.InfluxConfig, log *slog.Logger) (*Sinks, error) {
	file, err := telemetry.NewFileSink(dir, telemetry.WithFileLogger(log))
	if err != nil {
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	s := &Sinks{File: file, Out: file}
	if ic.URL == "" {
		return s, nil
	}
	ic.Logger = log
	influx, err := telemetry.NewInfluxSink(ic)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("--%s: %w", URL, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := influx.Ping(pctx); err != nil {
		log.Warn("InfluxDB not answering; points queue, then drop and count until it does", "err", err)
	} else {
		log.Info("writing metrics to InfluxDB", "url", ic.URL, "bucket", ic.Bucket)
	}
	s.Influx, s.Out = influx, telemetry.Tee{file, influx}
	return s, nil
}
