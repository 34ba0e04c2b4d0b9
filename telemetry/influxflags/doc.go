// Package influxflags holds the command-line flags of the InfluxDB sink
// (--influx-url, --influx-bucket, --influx-org, --influx-token, each also
// read from HBCTL_INFLUX_*), so every command that writes telemetry spells
// them the same way, and Open, the one place a process opens the metric
// sinks they describe (the file sink in its data dir, and InfluxDB).
//
// It imports only the telemetry package of hbctl, and urfave/cli.
package influxflags
