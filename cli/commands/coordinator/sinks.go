package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	ucli "github.com/urfave/cli/v2"

	coord "github.com/hbctl/hbctl/coordinator"
	"github.com/hbctl/hbctl/telemetry"
	"github.com/hbctl/hbctl/telemetry/influxflags"
)

// flagInfluxQueue sizes the InfluxDB sink's queue: hidden, for tests that
// must see points dropped within seconds of InfluxDB hanging.
const flagInfluxQueue = "influx-queue"

func influxFlags() []ucli.Flag {
	return append(influxflags.Flags(), &ucli.IntFlag{
		Name: flagInfluxQueue, Value: telemetry.DefaultInfluxQueue, Hidden: true, EnvVars: []string{"HBCTL_INFLUX_QUEUE"},
		Usage: "points held for InfluxDB while it is slow; beyond, dropped and counted",
	})
}

func influxConfig(c *ucli.Context) telemetry.InfluxConfig {
	cfg := influxflags.Config(c)
	cfg.QueueSize = c.Int(flagInfluxQueue)
	return cfg
}

// openSinks opens the file sink in dir and, with a URL, the InfluxDB sink,
// both behind one Tee: `hbctl report` reads the file whether or not
// InfluxDB is used. An unreachable InfluxDB is logged, not fatal: the sink
// counts what it cannot write and resumes when InfluxDB comes back.
func openSinks(ctx context.Context, dir string, ic telemetry.InfluxConfig, log *slog.Logger) (coord.PointSink, error) {
	file, err := telemetry.NewFileSink(dir, telemetry.WithFileLogger(log))
	if err != nil {
		return coord.PointSink{}, fmt.Errorf("metrics file: %w", err)
	}
	named := []coord.NamedSink{{Name: "file", Target: file.Path(), Sink: file}}
	if ic.URL == "" {
		return coord.PointSink{Out: file, Named: named}, nil
	}
	ic.Logger = log
	influx, err := telemetry.NewInfluxSink(ic)
	if err != nil {
		file.Close()
		return coord.PointSink{}, fmt.Errorf("--influx-url: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := influx.Ping(pctx); err != nil {
		log.Warn("InfluxDB not answering; points queue, then drop and count until it does", "err", err)
	} else {
		log.Info("writing metrics to InfluxDB", "url", ic.URL, "bucket", ic.Bucket)
	}
	named = append(named, coord.NamedSink{Name: "influx", Target: ic.URL, Sink: influx})
	return coord.PointSink{Out: telemetry.Tee{file, influx}, Named: named}, nil
}
