package dashboards

import (
	"embed"
	"io/fs"
)

//go:embed grafana/*.json provisioning/datasources/*.yaml provisioning/dashboards/*.yaml
var files embed.FS

// Dashboard file names under DashboardDir in Files.
const (
	DashboardDir = "grafana"
	Overview     = "hbctl-overview.json"
	Hosts        = "hbctl-hosts.json"
)

// Data source uids the dashboards query, as provisioned by
// provisioning/datasources/hbctl.yaml.
const (
	InfluxQLUID = "hbctl-influxql"
	FluxUID     = "hbctl-flux"
)

// Files returns the dashboards and provisioning files, laid out as in the
// source tree: grafana/*.json, provisioning/datasources/hbctl.yaml and
// provisioning/dashboards/hbctl.yaml.
func Files() fs.FS { return files }
