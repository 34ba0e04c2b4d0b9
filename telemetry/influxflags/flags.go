package influxflags

import (
	"github.com/hbctl/hbctl/telemetry"
	"github.com/urfave/cli/v2"
)

// Flag names.
const (
	URL    = "influx-url"
	Bucket = "influx-bucket"
	Org    = "influx-org"
	Token  = "influx-token"
)

// Flags returns fresh flag definitions (urfave/cli flags keep state, so each
// command gets its own).
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    URL,
			Usage:   "InfluxDB URL (e.g. http://127.0.0.1:8086); without it metrics go to the data dir only",
			EnvVars: []string{"HBCTL_INFLUX_URL"},
		},
		&cli.StringFlag{
			Name:    Bucket,
			Usage:   "bucket, or database/retention-policy on InfluxDB 1.8",
			Value:   telemetry.DefaultInfluxBucket,
			EnvVars: []string{"HBCTL_INFLUX_BUCKET"},
		},
		&cli.StringFlag{
			Name:    Org,
			Usage:   "organization (InfluxDB 2.x; ignored by 1.8)",
			EnvVars: []string{"HBCTL_INFLUX_ORG"},
		},
		&cli.StringFlag{
			Name:    Token,
			Usage:   "API token, or user:password on InfluxDB 1.8",
			EnvVars: []string{"HBCTL_INFLUX_TOKEN"},
		},
	}
}

// Config reads the flags into a sink configuration; Enabled tells whether a
// URL was given.
func Config(c *cli.Context) telemetry.InfluxConfig {
	return telemetry.InfluxConfig{
		URL:    c.String(URL),
		Bucket: c.String(Bucket),
		Org:    c.String(Org),
		Token:  c.String(Token),
	}
}

// Enabled reports whether --influx-url (or HBCTL_INFLUX_URL) is set.
func Enabled(c *cli.Context) bool { return c.String(URL) != "" }
