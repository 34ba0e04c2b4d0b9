#!/usr/bin/env bash
# The multi-host lab on one machine: N network namespaces (hb-h01 ...) joined
# by a bridge, addresses in 198.18.0.0/15 (reserved for benchmark networks).
# The server and coordinator run on the bridge (198.18.0.1), one or more
# `hbctl agent` processes run in each namespace with its own network stack,
# port space and NIC counters.
#
#   scripts/lab.sh up N [--users-per-host U]   create N hosts, start server, coordinator, agents; wait until all are alive
#   scripts/lab.sh run SCENARIO.yaml [FLAGS]   hbctl run SCENARIO with the lab's targets (FLAGS: more hbctl run flags)
#   scripts/lab.sh status                      what is up
#   scripts/lab.sh down                        stop every process (by PID) and remove every namespace and link
#
# Needs root (ip netns). State, data and logs live in $HBCTL_LAB_DIR (default
# /tmp/hbctl-lab); the binary is $HBCTL_BIN (default bin/hbctl). up is
# idempotent and, when it fails, tears down what it built.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
lab=${HBCTL_LAB_DIR:-/tmp/hbctl-lab}
hbctl=${HBCTL_BIN:-$here/bin/hbctl}
bridge=hb-br0
gw=198.18.0.1
prefix=15
# One process may hold at most this many connections here (20,000 open files
# per process, less what a process needs besides its connections).
per_process=${HBCTL_LAB_CONNS_PER_PROCESS:-18000}

die() { echo "lab: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root: it creates network namespaces, veth links and a bridge"; }
host_name() { printf 'h%02d' "$1"; }
host_addr() { echo "198.18.1.$1"; }

start_bg() { # name logfile cmd... ; records the PID in $lab/pids/name
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	echo $! >"$lab/pids/$name"
}

wait_for() { # what file pattern seconds
	local what=$1 file=$2 pattern=$3 secs=$4 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "--- $file" >&2
	tail -n 20 "$file" >&2 || true
	die "$what did not start within ${secs}s"
}

net_up() { # N
	local n=$1 i name ns
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
		ip addr add "$gw/$prefix" dev "$bridge"
	fi
	ip link set "$bridge" up
	for ((i = 1; i <= n; i++)); do
		name=$(host_name "$i")
		ns=hb-$name
		if ! ip netns list | grep -qw "$ns"; then
			ip netns add "$ns"
		fi
		if ! ip link show "hb-v$name" >/dev/null 2>&1; then
			ip link add "hb-v$name" type veth peer name "hb-e$name"
			ip link set "hb-e$name" netns "$ns"
			ip -n "$ns" link set "hb-e$name" name eth0
			ip -n "$ns" addr add "$(host_addr "$i")/$prefix" dev eth0
			ip link set "hb-v$name" master "$bridge"
		fi
		ip link set "hb-v$name" up
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route replace default via "$gw" dev eth0
		# A wide ephemeral range inside each host; the namespace has its own.
		ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
	done
	echo "$n" >"$lab/hosts"
}

coordinator_token() { cat "$lab/data/coordinator/token"; }

# Count the agents the coordinator sees alive (hbctl status --json).
alive_agents() {
	HBCTL_COORDINATOR="http://$gw:7070" HBCTL_TOKEN="$(coordinator_token)" "$hbctl" status --json 2>/dev/null |
		grep -o '"alive": *true' | wc -l
}

procs_up() { # N users_per_host
	local n=$1 per_host=$2 i j k name ns agents per_agent want tok
	[ -x "$hbctl" ] || die "no hbctl at $hbctl (run make build, or set HBCTL_BIN)"
	mkdir -p "$lab/pids" "$lab/logs" "$lab/data"
	# The server holds every connection: one process, at most what its
	# open-file limit allows.
	if [ "$((n * per_host))" -gt "$per_process" ]; then
		echo "lab: $((n * per_host)) users exceed what one server process holds here ($per_process); expect refused logins" >&2
	fi
	if [ ! -s "$lab/pids/server" ] || ! kill -0 "$(cat "$lab/pids/server")" 2>/dev/null; then
		start_bg server "$lab/logs/server.log" "$hbctl" server --listen "$gw:1025" --admin "$gw:8989" \
			--data-dir "$lab/data/server" --sets 64
		wait_for server "$lab/logs/server.log" "listening wire=" 20
	fi
	if [ ! -s "$lab/pids/coordinator" ] || ! kill -0 "$(cat "$lab/pids/coordinator")" 2>/dev/null; then
		start_bg coordinator "$lab/logs/coordinator.log" "$hbctl" coordinator --listen "$gw:7070" \
			--time-udp "$gw:7071" --data-dir "$lab/data/coordinator"
		wait_for coordinator "$lab/logs/coordinator.log" "^coordinator listening" 20
	fi
	tok=$(coordinator_token)
	# Several agent processes per host when one process may not hold the
	# host's users (the per-process open-file limit).
	agents=$(((per_host + per_process - 1) / per_process))
	per_agent=$(((per_host + agents - 1) / agents))
	for ((i = 1; i <= n; i++)); do
		name=$(host_name "$i")
		ns=hb-$name
		for ((j = 1; j <= agents; j++)); do
			k=$name
			[ "$agents" -gt 1 ] && k=$name-$j
			if [ -s "$lab/pids/agent-$k" ] && kill -0 "$(cat "$lab/pids/agent-$k")" 2>/dev/null; then
				continue
			fi
			# The coordinator is not on the agent's loopback, so the token
			# goes in the environment (not on the command line, where ps
			# shows it). ip netns exec and env both exec: the PID recorded
			# is the agent's own. Its host sampling sees only the
			# namespace's eth0: that host's NIC.
			start_bg "agent-$k" "$lab/logs/agent-$k.log" ip netns exec "$ns" env HBCTL_TOKEN="$tok" "$hbctl" agent \
				--coordinator "http://$gw:7070" --name "$k" --bind "$(host_addr "$i")" \
				--capacity "$per_agent" --data-dir "$lab/data/agent-$k"
		done
	done
	want=$((n * agents))
	for ((i = 0; i < 300; i++)); do
		[ "$(alive_agents)" -ge "$want" ] && break
		sleep 0.1
	done
	[ "$(alive_agents)" -ge "$want" ] || die "only $(alive_agents) of $want agents alive after 30s (logs in $lab/logs)"
	echo "$per_host" >"$lab/users-per-host"
	echo "lab: $n hosts up, $want agents of $per_agent users; coordinator http://$gw:7070, server $gw:1025 (admin http://$gw:8989)"
	echo "lab: export HBCTL_COORDINATOR=http://$gw:7070 HBCTL_TOKEN=\$(cat $lab/data/coordinator/token)"
}

down() {
	local f pid i
	if [ -d "$lab/pids" ]; then
		for f in "$lab"/pids/*; do
			[ -e "$f" ] || continue
			pid=$(cat "$f")
			kill -TERM "$pid" 2>/dev/null || true
		done
		for f in "$lab"/pids/*; do
			[ -e "$f" ] || continue
			pid=$(cat "$f")
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$f"
		done
	fi
	for ns in $(ip netns list | awk '{print $1}' | grep '^hb-h[0-9]' || true); do
		ip netns del "$ns"
	done
	for link in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^hb-vh[0-9]' || true); do
		ip link del "$link" 2>/dev/null || true
	done
	ip link del "$bridge" 2>/dev/null || true
	rm -f "$lab/hosts" "$lab/users-per-host"
	echo "lab: down"
}

cmd=${1:-}
[ -n "$cmd" ] || { sed -n '2,15p' "$0"; exit 2; }
shift
case "$cmd" in
up)
	need_root
	n=${1:-}
	[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || die "usage: lab.sh up N (1..250 hosts)"
	shift
	per_host=1000
	while [ $# -gt 0 ]; do
		case "$1" in
		--users-per-host) per_host=$2; shift ;;
		*) die "unknown argument $1" ;;
		esac
		shift
	done
	# One lab per machine: its addresses and names are fixed. Refuse (and
	# tear nothing down) when another lab dir's lab is up.
	if ip link show "$bridge" >/dev/null 2>&1 && [ ! -s "$lab/hosts" ]; then
		die "a lab is already up (bridge $bridge exists) but not from $lab: run lab.sh down with its HBCTL_LAB_DIR first"
	fi
	mkdir -p "$lab/pids" "$lab/logs" "$lab/data"
	trap 'rc=$?; if [ "$rc" != 0 ]; then echo "lab: up failed; cleaning up" >&2; down >&2; fi' EXIT
	net_up "$n"
	procs_up "$n" "$per_host"
	trap - EXIT
	;;
run)
	need_root
	[ -n "${1:-}" ] || die "usage: lab.sh run SCENARIO.yaml"
	[ -s "$lab/hosts" ] || die "the lab is not up (lab.sh up N first)"
	scenario=$1
	shift
	HBCTL_COORDINATOR="http://$gw:7070" HBCTL_TOKEN="$(coordinator_token)" \
		"$hbctl" run "$scenario" --server "$gw:1025" --admin "http://$gw:8989" \
		--admin-token-file "$lab/data/server/admin-token" "$@"
	;;
status)
	[ -s "$lab/hosts" ] && echo "hosts: $(cat "$lab/hosts")" || echo "hosts: none"
	for f in "$lab"/pids/*; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then s=running; else s=dead; fi
		echo "$(basename "$f"): pid $pid $s"
	done
	;;
down)
	need_root
	down
	;;
*) die "unknown command $cmd (up, run, status, down)" ;;
esac
