#!/bin/sh
# Runs a command (normally Grafana) with the environment that
# dashboards/provisioning expects, filling in the defaults Grafana's
# provisioning files cannot express themselves:
#
#   dashboards/grafana-env.sh grafana server --homepath /usr/share/grafana
#
# Any variable already set is kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

: "${HBCTL_INFLUX_URL:=http://127.0.0.1:8086}"
: "${HBCTL_INFLUX_USER:=}"
: "${HBCTL_INFLUX_PASSWORD:=}"
: "${HBCTL_INFLUX_TOKEN:=${HBCTL_INFLUX_USER}:${HBCTL_INFLUX_PASSWORD}}"
: "${HBCTL_DASHBOARDS_DIR:=$here/grafana}"
: "${GF_PATHS_PROVISIONING:=$here/provisioning}"
export HBCTL_INFLUX_URL HBCTL_INFLUX_USER HBCTL_INFLUX_PASSWORD HBCTL_INFLUX_TOKEN
export HBCTL_DASHBOARDS_DIR GF_PATHS_PROVISIONING

if [ "$#" -eq 0 ]; then
	echo "usage: $0 COMMAND [ARG...]   (e.g. $0 grafana server --homepath /usr/share/grafana)" >&2
	exit 2
fi
exec "$@"
