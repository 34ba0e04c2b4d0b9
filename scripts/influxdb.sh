#!/usr/bin/env bash
# Install, start and stop a private InfluxDB 1.8.10 for tests and local runs.
#
#   scripts/influxdb.sh install [TOOLS_DIR]          builds influxd into TOOLS_DIR/bin (default .tools)
#   scripts/influxdb.sh start DIR [PORT] [DATABASE]  runs influxd with its config and data under DIR
#                                                    (HTTP on 127.0.0.1:PORT, default 8086; database default hb)
#   scripts/influxdb.sh stop DIR                     stops the influxd started in DIR, by its PID
#
# influxd is looked up in $INFLUXD, $HBCTL_INFLUXD, .tools/bin/influxd, then PATH.
# START_TIMEOUT (seconds, default 60) bounds the wait for /ping.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}

usage() {
	echo "usage: $0 install [TOOLS_DIR] | start DIR [PORT] [DATABASE] | stop DIR" >&2
	exit 2
}

die() {
	echo "influxdb.sh: $*" >&2
	exit 1
}

find_influxd() {
	local c
	for c in "${INFLUXD:-}" "${HBCTL_INFLUXD:-}" "$here/.tools/bin/influxd"; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			echo "$c"
			return
		fi
	done
	command -v influxd || die "influxd not found (set INFLUXD or run: $0 install)"
}

# pid_alive PIDFILE: prints the PID if the file names a live influxd.
pid_alive() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1")
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# A stale file may name a PID reused by something else: check the command.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q influxd || return 1
	echo "$pid"
}

# port_busy PORT: true if something accepts connections on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_taken PORT: true if any local TCP socket (listening or connected)
# uses PORT, per /proc/net/tcp{,6}; binding it could fail.
port_taken() {
	local hex
	hex=$(printf ':%04X ' "$1")
	grep -qs -- "$hex" /proc/net/tcp /proc/net/tcp6 || port_busy "$1"
}

# free_port: a port below the kernel's ephemeral range, so outgoing
# connections (thousands of them during load tests) cannot be holding it.
free_port() {
	local low=32768 p i
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	[ "$low" -gt 11024 ] || low=61000
	for i in $(seq 1 200); do
		p=$((10000 + RANDOM % (low - 11000)))
		if ! port_taken "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# http METHOD PORT PATH [BODY]: a minimal HTTP/1.0 client over bash's
# /dev/tcp, so the script needs neither curl nor the influx CLI. Prints the
# status code.
http() {
	local method=$1 port=$2 path=$3 body=${4:-} status
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
		"$method" "$path" "${#body}" "$body" >&3
	read -r -t 10 _ status _ <&3 || status=000
	exec 3<&- 3>&-
	echo "$status"
}

# http_body METHOD PORT PATH [BODY]: prints the whole response (HTTP/1.0:
# the server closes the connection after it).
http_body() {
	local method=$1 port=$2 path=$3 body=${4:-}
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
		"$method" "$path" "${#body}" "$body" >&3
	timeout 10 cat <&3 || true
	exec 3<&- 3>&-
}

write_config() {
	local dir=$1 port=$2 rpc=$3
	cat >"$dir/influxdb.conf" <<CONF
# Written by scripts/influxdb.sh; rewritten at every start.
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"

[meta]
  dir = "$dir/meta"
  logging-enabled = false

[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  flux-enabled = true

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  log-enabled = false
CONF
}

# launch DIR PORT: starts influxd and waits for /ping. Returns 3 if influxd
# exited early because a port was taken (worth a retry with another RPC
# port), exits on other failures.
launch() {
	local dir=$1 port=$2 influxd pid
	local pidfile=$dir/influxd.pid log=$dir/influxd.log
	influxd=$(find_influxd)
	write_config "$dir" "$port" "$(free_port)"
	local mark
	mark=0
	[ -f "$log" ] && mark=$(wc -l <"$log")
	nohup "$influxd" run -config "$dir/influxdb.conf" </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	local deadline=$((SECONDS + ${START_TIMEOUT:-60}))
	until [ "$(http GET "$port" /ping 2>/dev/null)" = 204 ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pidfile"
			if tail -n "+$((mark + 1))" "$log" | grep -q "address already in use"; then
				return 3
			fi
			echo "influxd exited during start; last lines of $log:" >&2
			tail -n 20 "$log" >&2
			exit 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "influxd (pid $pid) did not answer /ping on 127.0.0.1:$port within ${START_TIMEOUT:-60}s; last lines of $log:" >&2
			tail -n 20 "$log" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$pidfile"
			exit 1
		fi
		sleep 0.1
	done
	echo "influxd running in $dir (pid $pid) on http://127.0.0.1:$port"
}

start() {
	local dir=${1:-} port=${2:-8086} db=${3:-hb}
	[ -n "$dir" ] || usage
	[[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
	[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || die "DATABASE must be letters, digits and _, got '$db'"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local pid
	if pid=$(pid_alive "$dir/influxd.pid"); then
		echo "influxd already running in $dir (pid $pid)"
	else
		rm -f "$dir/influxd.pid"
		port_busy "$port" && die "127.0.0.1:$port is already in use"
		mkdir -p "$dir/meta" "$dir/data" "$dir/wal"
		local attempt rc
		for attempt in 1 2 3; do
			rc=0
			launch "$dir" "$port" || rc=$?
			[ "$rc" -eq 3 ] || break
			echo "influxd: a port was taken, retrying (attempt $attempt)" >&2
		done
		if [ "$rc" -ne 0 ]; then
			echo "influxd could not bind its ports; last lines of $dir/influxd.log:" >&2
			tail -n 20 "$dir/influxd.log" >&2
			exit 1
		fi
	fi
	# A 200 can still carry an error in its body (the meta store settling
	# after start), so create until SHOW DATABASES lists it, within a bound.
	local i resp
	for ((i = 0; i < 100; i++)); do
		http_body POST "$port" /query "q=CREATE+DATABASE+%22$db%22" >/dev/null || true
		resp=$(http_body POST "$port" /query "q=SHOW+DATABASES" || true)
		case "$resp" in *"[\"$db\"]"*) return 0 ;; esac
		sleep 0.1
	done
	die "CREATE DATABASE $db did not take; last answer: ${resp:-none}"
}

stop() {
	local dir=${1:-}
	[ -n "$dir" ] || usage
	local pidfile=$dir/influxd.pid pid
	if ! pid=$(pid_alive "$pidfile"); then
		rm -f "$pidfile"
		echo "no influxd running in $dir"
		return
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + ${STOP_TIMEOUT:-15}))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "influxd (pid $pid) ignored TERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$pidfile"
	echo "influxd stopped (pid $pid)"
}

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
start)
	shift
	start "$@"
	;;
stop)
	shift
	stop "$@"
	;;
*)
	usage
	;;
esac
