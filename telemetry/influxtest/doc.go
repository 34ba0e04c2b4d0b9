// Package influxtest starts a private InfluxDB 1.8 (influxd) for tests, on a
// free loopback port under the test's temporary directory, through
// scripts/influxdb.sh, and queries it with InfluxQL.
//
// influxd is found in $HBCTL_INFLUXD, then .tools/bin/influxd under the
// module root, then PATH. Without it tests are skipped, except when CI is set:
// then they fail, because CI must install it (scripts/influxdb.sh install).
//
// It is for tests only and imports nothing of hbctl.
package influxtest
