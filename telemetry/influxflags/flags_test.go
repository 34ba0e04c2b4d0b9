package influxflags

import (
	"testing"

	"github.com/hbctl/hbctl/telemetry"
	"github.com/urfave/cli/v2"
)

func run(t *testing.T, args ...string) (cfg telemetry.InfluxConfig, enabled bool) {
	t.Helper()
	app := &cli.App{
		Flags: Flags(),
		Action: func(c *cli.Context) error {
			cfg, enabled = Config(c), Enabled(c)
			return nil
		},
	}
	if err := app.Run(append([]string{"hbctl"}, args...)); err != nil {
		t.Fatal(err)
	}
	return cfg, enabled
}

func TestFlags(t *testing.T) {
	// Defaults: no URL, the 1.8 bucket.
	cfg, on := run(t)
	if on || cfg.URL != "" || cfg.Bucket != telemetry.DefaultInfluxBucket {
		t.Fatalf("defaults: %+v enabled=%v", cfg, on)
	}

	// Environment variables.
	t.Setenv("HBCTL_INFLUX_URL", "http://127.0.0.1:8086")
	t.Setenv("HBCTL_INFLUX_TOKEN", "u:p")
	t.Setenv("HBCTL_INFLUX_ORG", "o")
	t.Setenv("HBCTL_INFLUX_BUCKET", "x/y")
	cfg, on = run(t)
	want := telemetry.InfluxConfig{URL: "http://127.0.0.1:8086", Bucket: "x/y", Org: "o", Token: "u:p"}
	if !on || cfg.URL != want.URL || cfg.Bucket != want.Bucket || cfg.Org != want.Org || cfg.Token != want.Token {
		t.Fatalf("env: %+v", cfg)
	}

	// Flags win over the environment.
	cfg, _ = run(t, "--influx-url", "http://127.0.0.2:9999", "--influx-bucket", "hb/autogen")
	if cfg.URL != "http://127.0.0.2:9999" || cfg.Bucket != "hb/autogen" || cfg.Token != "u:p" {
		t.Fatalf("flags: %+v", cfg)
	}
}
