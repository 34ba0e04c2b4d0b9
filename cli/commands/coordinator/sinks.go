package coordinator

import (
	"context"
	"log/slog"

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

// openSinks opens the coordinator's metric sinks (influxflags.Open) and
// names them for its status.
func openSinks(ctx context.Context, dir string, ic telemetry.InfluxConfig, log *slog.Logger) (coord.PointSink, error) {
	s, err := influxflags.Open(ctx, dir, ic, log)
	if err != nil {
		return coord.PointSink{}, err
	}
	named := []coord.NamedSink{{Name: "file", Target: s.File.Path(), Sink: s.File}}
	if s.Influx != nil {
		named = append(named, coord.NamedSink{Name: "influx", Target: ic.URL, Sink: s.Influx})
	}
	return coord.PointSink{Out: s.Out, Named: named}, nil
}
