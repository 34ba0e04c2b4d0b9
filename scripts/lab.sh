#!/usr/bin/env bash
# The multi-host lab on one machine: N network namespaces (hb-h01 ...) joined
# by a bridge, addresses in 198.18.0.0/15 (reserved for benchmark networks).
# The coordinator (198.18.0.1:7070) and S reference servers (server k on
# 198.18.0.k:1025, admin :8989, its own data dir and admin token) run on the
# bridge; one or more `hbctl agent` processes run in each namespace with its
# own network stack, port space and NIC counters. User u goes to server u mod S.
#
#   scripts/lab.sh up N [--servers S] [--users-per-host U]   create N hosts, start S servers, the coordinator and the agents; wait until all are alive
#   scripts/lab.sh run SCENARIO.yaml [FLAGS]   hbctl run SCENARIO with the lab's servers, admins and tokens as targets (FLAGS: more hbctl run flags)
#   scripts/lab.sh status                      what is up: processes, connections per server and per host
#   scripts/lab.sh down [--purge]              stop every process (by PID), remove every namespace, link and address;
#                                              --purge also removes the data dirs and logs (journals of every run so far)
#
# Needs root (ip netns). State, data and logs live in $HBCTL_LAB_DIR (default
# /tmp/hbctl-lab); the binary is $HBCTL_BIN (default bin/hbctl). up is
# idempotent and, when it fails, tears down what it built. HBCTL_LAB_WAKE_GRID,
# HBCTL_LAB_SERVER_WAKE_GRID, HBCTL_LAB_ANSWER_TIMEOUT, HBCTL_LAB_DEAD_AFTER,
# HBCTL_LAB_GOMAXPROCS and
# HBCTL_LAB_CONNS_PER_PROCESS tune it for many processes on few cores
# (docs/lab-1m.md).
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
usage() { echo "lab: $*" >&2; exit 2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root: it creates network namespaces, veth links and a bridge"; }
host_name() { printf 'h%02d' "$1"; }
host_addr() { echo "198.18.1.$1"; }
server_name() { printf 's%02d' "$1"; }
server_addr() { echo "198.18.0.$1"; }
# Run with few cores, many processes: one event loop each (0: the default,
# one per core) once there are at least as many processes as cores.
loops_for() { if [ "$1" -ge "$(nproc)" ]; then echo 1; else echo 0; fi; }
# GOMAXPROCS of the servers and agents when HBCTL_LAB_GOMAXPROCS is set
# (default: Go's, one per core). 1 costs less CPU at a rate the cores keep
# up with, but a process whose one P runs its event loop flat out then
# answers neither heartbeats nor admin requests.
procs_for() { echo "${HBCTL_LAB_GOMAXPROCS:-}"; }
# Agents fire on a coarser grid in the lab than on a host of their own:
# dozens of processes share the cores, and a wake-up costs more than a fire.
wake_grid=${HBCTL_LAB_WAKE_GRID:-5ms}
# Servers likewise: each receives from every agent, so without a grid it
# wakes for nearly every SHAKE (20,000 wake-ups a second over the servers at
# 20,000 SHAKE/s); on a 5 ms grid a busy server wakes 200 times a second.
server_wake_grid=${HBCTL_LAB_SERVER_WAKE_GRID:-5ms}
# An agent starved of CPU for a few seconds on a busy box is not dead.
dead_after=${HBCTL_LAB_DEAD_AFTER:-10s}
# A SHAKE counts as unanswered after this long (the agent's default is 5 s):
# two shared cores that fall behind the offered rate answer late, and a late
# answer is still an answer.
answer_timeout=${HBCTL_LAB_ANSWER_TIMEOUT:-30s}

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

net_up() { # N S
	local n=$1 s=$2 i name ns
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
		ip addr add "$gw/$prefix" dev "$bridge"
	fi
	ip link set "$bridge" up
	# Server k listens on 198.18.0.k; server 1 shares the bridge's own
	# address with the coordinator.
	for ((i = 2; i <= s; i++)); do
		ip addr replace "$(server_addr "$i")/32" dev "$bridge"
	done
	# ip netns add bind-mounts /run/netns onto itself; down unmounts it
	# again when the lab made it and left it empty.
	if [ ! -e "$lab/netns-mount" ] && ! mountpoint -q /run/netns 2>/dev/null; then
		touch "$lab/netns-mount"
	fi
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

server_token() { cat "$lab/data/server-$(server_name "$1")/admin-token"; }

procs_up() { # N S users_per_host
	local n=$1 s=$2 per_host=$3 i j k name ns agents per_agent want tok sloops aloops gmp need sample
	[ -x "$hbctl" ] || die "no hbctl at $hbctl (run make build, or set HBCTL_BIN)"
	mkdir -p "$lab/pids" "$lab/logs" "$lab/data"
	# Each server holds the connections of its users (u mod S): one process
	# each, at most what its open-file limit allows.
	if [ "$((n * per_host))" -gt "$((s * per_process))" ]; then
		need=$(((n * per_host + per_process - 1) / per_process))
		echo "lab: $((n * per_host)) users exceed what $s server processes hold here ($s x $per_process); expect refused logins beyond it, or use --servers $need" >&2
	fi
	sloops=$(loops_for "$s")
	gmp=$(procs_for "$s")
	for ((k = 1; k <= s; k++)); do
		name=$(server_name "$k")
		if [ -s "$lab/pids/server-$name" ] && kill -0 "$(cat "$lab/pids/server-$name")" 2>/dev/null; then
			continue
		fi
		start_bg "server-$name" "$lab/logs/server-$name.log" env ${gmp:+GOMAXPROCS=$gmp} "$hbctl" server --listen "$(server_addr "$k"):1025" \
			--admin "$(server_addr "$k"):8989" --data-dir "$lab/data/server-$name" --sets 64 \
			--loops "$sloops" --wake-grid "$server_wake_grid" --host-name "$name" --sample-host="$([ "$k" = 1 ] && echo true || echo false)"
	done
	for ((k = 1; k <= s; k++)); do
		name=$(server_name "$k")
		wait_for "server $name" "$lab/logs/server-$name.log" "listening wire=" 30
	done
	if [ ! -s "$lab/pids/coordinator" ] || ! kill -0 "$(cat "$lab/pids/coordinator")" 2>/dev/null; then
		start_bg coordinator "$lab/logs/coordinator.log" "$hbctl" coordinator --listen "$gw:7070" \
			--time-udp "$gw:7071" --data-dir "$lab/data/coordinator" --dead-after "$dead_after"
		wait_for coordinator "$lab/logs/coordinator.log" "^coordinator listening" 20
		# The control plane stays responsive when the load saturates the
		# cores: a command (qps 0, verify) must get through.
		renice -n -15 -p "$(cat "$lab/pids/coordinator")" >/dev/null
	fi
	tok=$(coordinator_token)
	# Several agent processes per host when one process may not hold the
	# host's users (the per-process open-file limit).
	agents=$(((per_host + per_process - 1) / per_process))
	per_agent=$(((per_host + agents - 1) / agents))
	aloops=$(loops_for "$((n * agents))")
	gmp=$(procs_for "$((n * agents))")
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
			# One agent of a host samples its NIC, CPU and memory: the others
			# would report the same namespace again.
			sample=true
			[ "$j" -gt 1 ] && sample=false
			start_bg "agent-$k" "$lab/logs/agent-$k.log" ip netns exec "$ns" env HBCTL_TOKEN="$tok" ${gmp:+GOMAXPROCS=$gmp} "$hbctl" agent \
				--coordinator "http://$gw:7070" --name "$k" --bind "$(host_addr "$i")" \
				--capacity "$per_agent" --loops "$aloops" --wake-grid "$wake_grid" --timeout "$answer_timeout" --sample-host="$sample" \
				--data-dir "$lab/data/agent-$k"
		done
	done
	want=$((n * agents))
	for ((i = 0; i < 600; i++)); do
		[ "$(alive_agents)" -ge "$want" ] && break
		sleep 0.1
	done
	[ "$(alive_agents)" -ge "$want" ] || die "only $(alive_agents) of $want agents alive after 60s (logs in $lab/logs)"
	echo "$per_host" >"$lab/users-per-host"
	echo "lab: $n hosts up, $want agents of $per_agent users; coordinator http://$gw:7070"
	if [ "$s" = 1 ]; then
		echo "lab: server $(server_addr 1):1025 (admin http://$(server_addr 1):8989)"
	else
		echo "lab: $s servers $(server_addr 1):1025 ... $(server_addr "$s"):1025 (admin http://ADDR:8989); user u on server u mod $s"
	fi
	echo "lab: export HBCTL_COORDINATOR=http://$gw:7070 HBCTL_TOKEN=\$(cat $lab/data/coordinator/token)"
}

down() {
	local f pid i left
	if [ -d "$lab/pids" ]; then
		for f in "$lab"/pids/*; do
			[ -e "$f" ] || continue
			pid=$(cat "$f")
			kill -TERM "$pid" 2>/dev/null || true
		done
		# 10 s for all of them together, then SIGKILL what is left.
		for ((i = 0; i < 100; i++)); do
			left=0
			for f in "$lab"/pids/*; do
				[ -e "$f" ] || continue
				if kill -0 "$(cat "$f")" 2>/dev/null; then left=1; else rm -f "$f"; fi
			done
			[ "$left" = 0 ] && break
			sleep 0.1
		done
		for f in "$lab"/pids/*; do
			[ -e "$f" ] || continue
			kill -KILL "$(cat "$f")" 2>/dev/null || true
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
	# /run/netns stays bind-mounted after the last namespace is gone: unmount
	# it when this lab mounted it and nobody else's namespace lives there.
	if [ -e "$lab/netns-mount" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
		while mountpoint -q /run/netns; do umount /run/netns || break; done
		rmdir /run/netns 2>/dev/null || true
	fi
	rm -f "$lab/hosts" "$lab/users-per-host" "$lab/servers" "$lab/netns-mount"
	echo "lab: down"
}

# What is up: every process, the logged-in connections each server counts
# (its GET /v1/stats) and those each host's agents hold (the coordinator's
# status). Reading the tokens needs root; without it the counts show "?".
status() {
	local f pid st k s=0 name conns tot=0 known=1 js
	if [ -s "$lab/hosts" ]; then
		s=$(cat "$lab/servers" 2>/dev/null || echo 1)
		echo "hosts: $(cat "$lab/hosts")  servers: $s  users per host: $(cat "$lab/users-per-host" 2>/dev/null || echo ?)"
	else
		echo "hosts: none"
	fi
	for f in "$lab"/pids/*; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then st=running; else st=dead; fi
		echo "$(basename "$f"): pid $pid $st"
	done
	[ "$s" -gt 0 ] || return 0
	echo "connections per server (logged in):"
	for ((k = 1; k <= s; k++)); do
		name=$(server_name "$k")
		conns=$(curl -sf -m 5 -H "Authorization: Bearer $(server_token "$k" 2>/dev/null)" \
			"http://$(server_addr "$k"):8989/v1/stats" 2>/dev/null | jq -r .connections 2>/dev/null) || conns=
		if [[ "$conns" =~ ^[0-9]+$ ]]; then tot=$((tot + conns)); else conns="?"; known=0; fi
		printf '  %s %-15s %8s\n' "$name" "$(server_addr "$k"):1025" "$conns"
	done
	[ "$known" = 1 ] && printf '  %-19s %8d\n' total "$tot"
	echo "connections per host (established by its agents):"
	if js=$(HBCTL_COORDINATOR="http://$gw:7070" HBCTL_TOKEN="$(coordinator_token 2>/dev/null)" "$hbctl" status --json 2>/dev/null); then
		jq -r '[.agents[] | {h: (.name | sub("-[0-9]+$"; "")), c: .conns, a: .alive}]
			| group_by(.h)[] | "  \(.[0].h) \(length) agents (\(map(select(.a)) | length) alive) \(map(.c) | add)"' <<<"$js"
		jq -r '"  total \(.connections.established) of \(.connections.target)"' <<<"$js"
	else
		echo "  ? (coordinator not reachable, or its token not readable)"
	fi
}

cmd=${1:-}
[ -n "$cmd" ] || { sed -n '2,19p' "$0"; exit 2; }
shift
case "$cmd" in
up)
	need_root
	n=${1:-}
	[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || usage "usage: lab.sh up N [--servers S] [--users-per-host U] (1..250 hosts)"
	shift
	per_host=1000
	servers=1
	while [ $# -gt 0 ]; do
		case "$1" in
		--users-per-host | --servers)
			[ $# -ge 2 ] || usage "$1 needs a value"
			[[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || usage "$1 $2: want a positive number"
			if [ "$1" = --servers ]; then servers=$2; else per_host=$2; fi
			shift
			;;
		*) usage "unknown argument $1" ;;
		esac
		shift
	done
	[ "$servers" -le 250 ] || usage "--servers $servers: at most 250 (198.18.0.1 ... 198.18.0.250)"
	# An up lab grows only by what is missing; it does not change shape.
	if [ -s "$lab/servers" ] && [ "$(cat "$lab/servers")" != "$servers" ]; then
		die "the lab is up with $(cat "$lab/servers") servers, not $servers: lab.sh down first"
	fi
	if [ -s "$lab/users-per-host" ] && [ "$(cat "$lab/users-per-host")" != "$per_host" ]; then
		die "the lab is up with $(cat "$lab/users-per-host") users per host, not $per_host: lab.sh down first"
	fi
	# One lab per machine: its addresses and names are fixed. Refuse (and
	# tear nothing down) when another lab dir's lab is up.
	if ip link show "$bridge" >/dev/null 2>&1 && [ ! -s "$lab/hosts" ]; then
		die "a lab is already up (bridge $bridge exists) but not from $lab: run lab.sh down with its HBCTL_LAB_DIR first"
	fi
	mkdir -p "$lab/pids" "$lab/logs" "$lab/data"
	trap 'rc=$?; if [ "$rc" != 0 ]; then echo "lab: up failed; cleaning up" >&2; down >&2; fi' EXIT
	echo "$servers" >"$lab/servers"
	net_up "$n" "$servers"
	procs_up "$n" "$servers" "$per_host"
	trap - EXIT
	;;
run)
	need_root
	[ -n "${1:-}" ] || die "usage: lab.sh run SCENARIO.yaml"
	[ -s "$lab/hosts" ] || die "the lab is not up (lab.sh up N first)"
	scenario=$1
	shift
	targets=()
	for ((k = 1; k <= $(cat "$lab/servers"); k++)); do
		targets+=(--server "$(server_addr "$k"):1025" --admin "http://$(server_addr "$k"):8989"
			--admin-token-file "$lab/data/server-$(server_name "$k")/admin-token")
	done
	HBCTL_COORDINATOR="http://$gw:7070" HBCTL_TOKEN="$(coordinator_token)" \
		"$hbctl" run "$scenario" "${targets[@]}" "$@"
	;;
status)
	status
	;;
down)
	need_root
	down
	if [ "${1:-}" = --purge ]; then
		# The data dirs keep every run's journals and the coordinator's
		# plans, so that a run can be verified again after down; the next
		# up would carry them on (every ledger would hold all the runs).
		rm -rf "$lab/data" "$lab/logs"
		echo "lab: data and logs removed"
	elif [ -n "${1:-}" ]; then
		usage "usage: lab.sh down [--purge]"
	fi
	;;
*) die "unknown command $cmd (up, run, status, down)" ;;
esac
