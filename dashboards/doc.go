// Package dashboards holds hbctl's Grafana dashboards (grafana/*.json) and
// the provisioning files that load them with an InfluxDB data source
// (provisioning/), embedded so a command can write them out.
//
// Its tests are the point of the Go code here: they check every dashboard
// against the telemetry measurements hbctl writes, run every panel query
// against a real InfluxDB, and type-check the JSON against Grafana's own
// schema (schema/).
//
// It imports nothing of hbctl (its tests use only telemetry/influxtest to run
// InfluxDB): the measurement table the tests check against is the contract
// with telemetry, written down here on purpose so that a renamed field
// breaks a test instead of a panel.
package dashboards
