#!/usr/bin/env bash
# Install, start and stop a private InfluxDB 1.8.10 for tests and local runs.
#
#   scripts/influxdb.sh install [TOOLS_DIR]          builds influxd into TOOLS_DIR/bin (default .tools)
#   scripts/influxdb.sh start DIR [PORT] [DATABASE]  runs influxd with its config and data under DIR
#   scripts/influxdb.sh stop DIR                     stops the influxd started in DIR, by its PID
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
case "$cmd" in
install)
	tools=${2:-$here/.tools}
	if [ -x "$tools/bin/influxd" ]; then
		echo "influxd already at $tools/bin/influxd"
		exit 0
	fi
	echo "building InfluxDB 1.8.10 into $tools/bin (one-time, about a minute)..."
	GOBIN="$tools/bin" GOFLAGS=-buildvcs=false go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10
	;;
*)
	echo "usage: $0 install [TOOLS_DIR] | start DIR [PORT] [DATABASE] | stop DIR" >&2
	exit 2
	;;
esac
