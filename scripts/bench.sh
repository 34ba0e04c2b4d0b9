#!/usr/bin/env bash
# Run hbctl's benchmarks and print the figures a closing note or a review
# needs. Every benchmark is bounded (-benchtime counts, a fixed number of
# seconds), and the ones that measure a child process start and stop it
# themselves.
#
#   scripts/bench.sh [quick|paced|all] [--reps N] [-o FILE]
#   scripts/bench.sh system [--rates 10000,20000,40000,60000,100000] [--seconds 20]
#                           [--users 18000] [--agents 2] [-o FILE]
#
# quick (default): the paced pair at 10,000 SHAKE/s (below), codec, journal,
#                  schedule, shares, sinks, reconciliation at 100k users,
#                  report; a few minutes.
# paced:           the headline figure, the load users make: a child hbctl
#                  server and a child agent engine, 10,000 connections, SHAKEs
#                  paced evenly at 10k, 20k, 40k, 60k and 100k a second, the
#                  server with and without its wake grid, beside a floor pair
#                  measured in the same run (a bare server and a bare client
#                  doing one recv and one send per SHAKE at the same pacing):
#                  CPU-seconds per 10,000 SHAKEs and context switches per
#                  SHAKE of server and client, p99 (BenchmarkPaced).
#                  --reps N runs the whole set N times over, so that every
#                  case is interleaved with the others, and ends with a
#                  summary: per rate and case the medians of the N passes,
#                  and "x floor", the median of each pass's ratio to the
#                  floor pair of the same rate in the same pass. One pass
#                  moves by 10-20% on a shared 2-core VM; 5 passes resolve
#                  about 5%.
# all:             paced, then the closed-loop figures: the server at 10,000
#                  and 15,000 connections driven closed-loop, the agent
#                  at 15,000 connections and 10,000 SHAKE/s, and the
#                  reconciliation of 1,000,000 users.
# system:          the whole system paced, as real processes on loopback: one
#                  hbctl server (127.0.0.1), one coordinator, --agents agents
#                  (--bind 127.0.0.2, .3, ...; at most 10,000 users each),
#                  `connect --users --wait`, then for each rate `qps set R`, 2 s
#                  to settle and --seconds of measurement. One row per rate:
#                  CPU-seconds per 10,000 SHAKEs of the server, the agents
#                  (sum) and the coordinator (from /proc/PID/task/*/schedstat,
#                  SHAKEs = the agents' sent in the window), context switches
#                  per SHAKE (/proc/PID/task/*/status), the share of seconds
#                  whose sent and server_received are within 1% of the target
#                  and whose p99 is <= 10 ms, the median and max p99 (the
#                  seconds of `hbctl status --json`), and the cores all of them
#                  kept busy. Then `qps set 0` and `hbctl verify ledger`: its
#                  verdict line and exit code, which is also the script's.
#                  Needs jq. Processes and data live in a temp dir; every
#                  process is stopped by PID on exit or interrupt. HBCTL_*
#                  variables other than HBCTL_BIN (default bin/hbctl) are
#                  ignored so that they cannot change the processes' flags.
# Timings on a shared machine are noisy: compare ratios within one run and
# repeat (benchstat helps) before quoting.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=quick
out=
rates=10000,20000,40000,60000,100000
seconds=20
users=18000
agents=2
reps=1
while [ $# -gt 0 ]; do
	case "$1" in
	quick|paced|all|system) mode=$1 ;;
	-o) out=$2; shift ;;
	--rates) rates=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--users) users=$2; shift ;;
	--agents) agents=$2; shift ;;
	--reps) reps=$2; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] && exec > >(tee "$out")
case "$reps" in
''|*[!0-9]*|0) echo "bench.sh: --reps wants a whole number of passes, at least 1, not '$reps'" >&2; exit 2 ;;
esac

# ---- system: the whole system, paced, as real processes on loopback ----

sys_die() { echo "bench.sh system: $*" >&2; exit 1; }

# sys_start NAME CMD...: runs CMD in the background, output to $tmp/NAME.log.
sys_start() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	pid_of[$name]=$!
	procs+=("$name")
}

# sys_stop: TERM every process started, then KILL what is left after 5 s.
sys_stop() {
	local rc=$? name pid i
	[ -z "${sleeper:-}" ] || kill "$sleeper" 2>/dev/null || true
	for name in "${procs[@]}"; do
		kill -TERM "${pid_of[$name]}" 2>/dev/null || true
	done
	for name in "${procs[@]}"; do
		pid=${pid_of[$name]}
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# Logs and data stay for a look when the sweep failed, not when it was
	# interrupted.
	if [ "$rc" = 0 ] || [ "$rc" = 130 ] || [ "$rc" = 143 ]; then
		rm -rf "$tmp"
	else
		echo "bench.sh system: logs and data kept in $tmp" >&2
	fi
}

# sys_line NAME PATTERN SECONDS: prints the first line of NAME's log that
# matches PATTERN, waiting at most SECONDS; dies if NAME exits first.
sys_line() {
	local name=$1 pattern=$2 secs=$3 i line
	for ((i = 0; i < secs * 10; i++)); do
		line=$(grep -m1 -E "$pattern" "$tmp/$name.log" 2>/dev/null || true)
		if [ -n "$line" ]; then
			echo "$line"
			return 0
		fi
		kill -0 "${pid_of[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$tmp/$name.log" >&2 || true
	sys_die "$name did not print /$pattern/ within ${secs}s"
}

# Control commands, each bounded.
sys_ctl() { timeout 120 "$hbctl" "$@"; }

# sys_sample NAME: "CPU-ns context-switches CPU-ticks" of NAME's process:
# CPU time and context switches summed over its threads (ns precision), and
# utime+stime of the whole process (clock ticks, but with the threads that
# exited).
sys_sample() {
	local pid=${pid_of[$1]}
	awk 'FILENAME ~ /schedstat$/ { cpu += $1; next }
		FILENAME ~ /[0-9]\/stat$/ { ticks = $14 + $15; next }
		/^(non)?voluntary_ctxt_switches:/ { cs += $2 }
		END { printf "%.0f %.0f %.0f\n", cpu, cs, ticks }' \
		/proc/"$pid"/task/*/schedstat /proc/"$pid"/task/*/status /proc/"$pid"/stat 2>/dev/null
}

# sys_snapshot a|b: samples every process into cpu[a/NAME], cs[a/NAME],
# ticks[a/NAME] and the wall clock into wall[a] (ns).
sys_snapshot() {
	local name c x k
	for name in "${procs[@]}"; do
		kill -0 "${pid_of[$name]}" 2>/dev/null || sys_die "$name exited; log: $tmp/$name.log"
		read -r c x k < <(sys_sample "$name")
		cpu[$1/$name]=$c
		cs[$1/$name]=$x
		ticks[$1/$name]=$k
	done
	wall[$1]=$(date +%s%N)
}

# sys_cs NAME: NAME's context switches between the snapshots.
sys_cs() { echo $((cs[b/$1] - cs[a/$1])); }

# sys_cpu NAME: NAME's CPU-ns between the snapshots. The threads' sum misses
# threads that exited in between; when utime+stime says more by over two
# ticks, that figure is taken instead (and said).
sys_cpu() {
	local ns=$((cpu[b/$1] - cpu[a/$1])) tk=$(((ticks[b/$1] - ticks[a/$1]) * 1000000000 / clk_tck))
	if [ "$tk" -gt $((ns + 2 * 1000000000 / clk_tck)) ]; then
		echo "#   $1: threads exited in the window; its CPU from /proc/PID/stat (tick precision)" >&2
		ns=$tk
	fi
	echo "$ns"
}

sys_sleep_until() { # UNIX-SECOND
	local d
	d=$(awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
	# In the background, so that a signal's trap runs at once.
	sleep "$d" &
	sleeper=$!
	wait "$sleeper"
	sleeper=
}

sys_alive() {
	local n
	n=$(sys_ctl status --json 2>/dev/null | jq '[.agents[]? | select(.alive)] | length' 2>/dev/null || true)
	echo "${n:-0}"
}

# The window's seconds from hbctl status --json, as one TSV line: seconds
# found, SHAKEs sent, seconds with sent within 1% of the target, with
# server_received within 1%, without server_received, with p99 <= 10 ms,
# median p99, max p99 (the p99s of the seconds that sent anything).
sys_seconds() { # FROM TO (unix seconds, TO excluded)
	jq -r --argjson from "$1" --argjson to "$2" '
		def within1(x): .target > 0 and x != null and ((x - .target) | if . < 0 then -. else . end) <= 0.01 * .target;
		[.seconds[]? | select(.t >= $from and .t < $to)] as $s
		| ($s | length) as $n
		| ($s | map(select(.sent > 0) | .p99_ms) | sort) as $p
		| ($p | length) as $m
		| [$n,
		   ($s | map(.sent) | add // 0),
		   ($s | map(select(within1(.sent))) | length),
		   ($s | map(select(within1(.server_received))) | length),
		   ($s | map(select(.server_received == null)) | length),
		   ($p | map(select(. <= 10)) | length),
		   (if $m == 0 then 0 elif $m % 2 == 1 then $p[($m - 1) / 2 | floor] else ($p[$m / 2 - 1 | floor] + $p[$m / 2 | floor]) / 2 end),
		   ($p | max // 0)]
		| @tsv'
}

system_sweep() {
	local hbctl=${HBCTL_BIN:-bin/hbctl} per_agent i v line wire admin http r eff t0 t1 st
	local n sent ok_sent ok_srv no_srv ok_p99 p99_med p99_max ag_cpu ag_cs
	local vrc rate_list late
	command -v jq >/dev/null || sys_die "needs jq (apt-get install jq)"
	[ -x "$hbctl" ] || sys_die "no hbctl at $hbctl (make build, or set HBCTL_BIN)"
	for v in "$seconds" "$users" "$agents"; do
		[[ "$v" =~ ^[1-9][0-9]*$ ]] || sys_die "--seconds, --users and --agents take positive integers"
	done
	IFS=, read -r -a rate_list <<<"$rates"
	for r in "${rate_list[@]}"; do
		[[ "$r" =~ ^[1-9][0-9]*$ ]] || sys_die "--rates takes positive integers separated by commas, not $rates"
	done
	[ "$agents" -le 250 ] || sys_die "at most 250 agents (127.0.0.2 ... 127.0.0.251)"
	per_agent=$(((users + agents - 1) / agents))
	# One process holds at most 20,000 open files here: an agent up to
	# 10,000 users (and the server every connection).
	[ "$per_agent" -le 10000 ] || sys_die "$per_agent users per agent: at most 10,000 each (use more --agents)"
	[ "$users" -le 19000 ] || echo "bench.sh system: $users connections may exceed the server's open-file limit" >&2
	# Only the flags below configure the processes.
	for v in $(compgen -e | grep '^HBCTL_' || true); do
		[ "$v" = HBCTL_BIN ] || unset "$v"
	done

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/hbctl-bench-system.XXXXXX")
	declare -gA pid_of=() cpu=() cs=() ticks=() wall=()
	clk_tck=$(getconf CLK_TCK)
	procs=()
	trap sys_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	echo "# hbctl system sweep, $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# server + coordinator + $agents agents of $per_agent users on loopback, $users users; per rate: ${seconds}s measured after 2s to settle"
	sys_start server "$hbctl" server --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$tmp/server"
	line=$(sys_line server 'listening wire=' 30)
	wire=$(sed -E 's/.* wire=([^ ]+).*/\1/' <<<"$line")
	admin=$(sed -E 's/.* admin=([^ ]+).*/\1/' <<<"$line")
	sys_start coordinator "$hbctl" coordinator --listen 127.0.0.1:0 --time-udp 127.0.0.1:0 \
		--data-dir "$tmp/coordinator"
	line=$(sys_line coordinator '^coordinator listening http=' 30)
	http=$(sed -E 's/.* http=([^ ]+).*/\1/' <<<"$line")
	export HBCTL_COORDINATOR="http://$http" HBCTL_COORDINATOR_DATA_DIR="$tmp/coordinator"
	for ((i = 1; i <= agents; i++)); do
		sys_start "agent$i" "$hbctl" agent --coordinator "http://$http" \
			--coordinator-data-dir "$tmp/coordinator" --name "a$i" --bind "127.0.0.$((i + 1))" \
			--capacity "$per_agent" --data-dir "$tmp/agent$i"
	done
	for ((i = 0; i < 60; i++)); do
		[ "$(sys_alive)" -ge "$agents" ] && break
		sleep 0.5
	done
	[ "$(sys_alive)" -ge "$agents" ] || sys_die "only $(sys_alive) of $agents agents alive after 30s"
	sys_ctl connect --server "$wire" --admin "http://$admin" --server-data-dir "$tmp/server" \
		--users "$users" --wait --timeout 110s >"$tmp/connect.log" 2>&1 ||
		{ tail -n 20 "$tmp/connect.log" >&2; sys_die "connect failed"; }
	echo "# $(tail -n 1 "$tmp/connect.log")"
	late=$(sys_ctl status --json | jq '.late_windows // 0')
	echo "# CPU: CPU-seconds per 10,000 SHAKEs sent; cs: context switches per SHAKE; sent/srv/p99: % of the seconds"
	echo "# with sent, server_received within 1% of the target, p99 <= 10 ms; cores: CPU of all the processes / wall time"
	printf '%8s %4s %9s  %7s %7s %7s  %6s %6s  %5s %5s %5s  %8s %8s  %5s\n' \
		rate secs shakes cpu:srv agents coord cs:srv agents sent% srv% p99% p99-med p99-max cores
	for r in "${rate_list[@]}"; do
		line=$(sys_ctl qps set "$r" --at +1s)
		eff=$(sed -nE 's/.*\(unix ([0-9]+),.*/\1/p' <<<"$line")
		[ -n "$eff" ] || sys_die "qps set $r printed: $line"
		t0=$((eff + 2))
		t1=$((t0 + seconds))
		sys_sleep_until "$t0"
		sys_snapshot a
		sys_sleep_until "$t1"
		sys_snapshot b
		# The seconds are final a moment after they end; server_received
		# comes from a poll every 2 s. Wait until the last one has it.
		for ((i = 0; i < 30; i++)); do
			st=$(sys_ctl status --json)
			jq -e --argjson t "$((t1 - 1))" 'any(.seconds[]?; .t == $t and .server_received != null)' \
				>/dev/null <<<"$st" && break
			sleep 0.5
		done
		read -r n sent ok_sent ok_srv no_srv ok_p99 p99_med p99_max < <(sys_seconds "$t0" "$t1" <<<"$st")
		ag_cpu=0
		ag_cs=0
		for ((i = 1; i <= agents; i++)); do
			ag_cpu=$((ag_cpu + $(sys_cpu "agent$i")))
			ag_cs=$((ag_cs + $(sys_cs "agent$i")))
		done
		awk -v r="$r" -v secs="$seconds" -v n="$n" -v sent="$sent" \
			-v scpu="$(sys_cpu server)" -v acpu="$ag_cpu" -v ccpu="$(sys_cpu coordinator)" \
			-v scs="$(sys_cs server)" -v acs="$ag_cs" \
			-v ok_sent="$ok_sent" -v ok_srv="$ok_srv" -v ok_p99="$ok_p99" \
			-v med="$p99_med" -v max="$p99_max" -v wall="$((wall[b] - wall[a]))" '
			function per10k(ns, f) { return sent > 0 ? sprintf(f, ns / 1e9 / (sent / 1e4)) : "-" }
			function perShake(x) { return sent > 0 ? sprintf("%.2f", x / sent) : "-" }
			BEGIN {
				printf "%8d %4d %9d  %7s %7s %7s  %6s %6s  %5.0f %5.0f %5.0f  %8.1f %8.1f  %5.2f\n",
					r, n, sent, per10k(scpu, "%.3f"), per10k(acpu, "%.3f"), per10k(ccpu, "%.4f"), perShake(scs), perShake(acs),
					100 * ok_sent / secs, 100 * ok_srv / secs, 100 * ok_p99 / secs, med, max,
					(scpu + acpu + ccpu) / wall
			}'
		[ "$n" -eq "$seconds" ] || echo "#   only $n of $seconds seconds in hbctl status; the missing ones count as misses"
		[ "$no_srv" -eq 0 ] || echo "#   $no_srv seconds without server_received count as misses"
		v=$(jq '[.agents[]? | select(.alive)] | length' <<<"$st")
		[ "$v" -eq "$agents" ] || echo "#   only $v of $agents agents alive after the window: the row is not a steady state"
		v=$(jq '.late_windows // 0' <<<"$st")
		[ "$v" -eq "$late" ] || echo "#   $((v - late)) agent windows arrived after their second was final: their SHAKEs are not in sent"
		late=$v
	done
	sys_ctl qps set 0 --at +1s >/dev/null
	vrc=0
	timeout 900 "$hbctl" verify ledger --stay-quiet >"$tmp/verify.txt" 2>&1 || vrc=$?
	line=$(grep -E '^verdict:' "$tmp/verify.txt" || true)
	if [ -z "$line" ] || [ "$vrc" != 0 ]; then
		tail -n 30 "$tmp/verify.txt"
	fi
	echo "# hbctl verify ledger: ${line:-no verdict line} -> exit $vrc"
	return "$vrc"
}

if [ "$mode" = system ]; then
	system_sweep
	exit $?
fi

# paced_summary FILE: FILE holds "pass BenchmarkPaced-line" rows; prints
# per rate and case the medians over the passes, and each engine case's
# ratio to the floor pair of the same rate and pass (median over passes).
paced_summary() {
	awk '
	function med(key, metric,   n, i, j, t, a) {
		n = 0
		for (i = 1; i <= cnt[key]; i++) if ((key, metric, i) in v) a[++n] = v[key, metric, i]
		if (n == 0) return ""
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function cell(key, metric, fmt,   m, r) {
		m = med(key, metric)
		if (m == "") return "-"
		r = med(key, "x " metric)
		return sprintf(fmt, m) (r == "" ? "" : sprintf(" (%.2f)", r))
	}
	{
		name = $2
		sub(/^BenchmarkPaced\//, "", name); sub(/-[0-9]+$/, "", name)
		if (!match(name, /qps=[0-9]+/)) next
		rate = substr(name, RSTART + 4, RLENGTH - 4) + 0
		c = name; sub(/.*pair=/, "", c)
		key = rate SUBSEP c
		if (!(key in cnt)) { keys[++nk] = key; cnt[key] = 0 }
		k = ++cnt[key]
		for (i = 4; i + 1 <= NF; i += 2) { v[key, $(i+1), k] = $i; pass[key, k] = $1 }
	}
	END {
		for (j = 1; j <= nk; j++) {
			key = keys[j]; split(key, p, SUBSEP)
			for (k = 1; k <= cnt[key]; k++) {
				if (p[2] != "floor") continue
				flo[p[1], pass[key, k], "s"] = v[key, "server-cpu-s/10k", k]
				flo[p[1], pass[key, k], "c"] = v[key, "client-cpu-s/10k", k]
			}
		}
		for (j = 1; j <= nk; j++) {
			key = keys[j]; split(key, p, SUBSEP)
			if (p[2] == "floor") continue
			for (k = 1; k <= cnt[key]; k++) {
				f = flo[p[1], pass[key, k], "s"]; if (f > 0) v[key, "x server-cpu-s/10k", k] = v[key, "server-cpu-s/10k", k] / f
				f = flo[p[1], pass[key, k], "c"]; if (f > 0) v[key, "x client-cpu-s/10k", k] = v[key, "client-cpu-s/10k", k] / f
			}
		}
		printf "# paced summary: medians of %d pass(es); (x floor) is the median ratio to the floor pair of the same rate and pass\n", maxpass()
		printf "%-8s %-20s %-22s %-22s %-16s %-12s %s\n", "rate", "pair", "server cpu-s/10k", "client cpu-s/10k", "ctxsw srv/cli", "p99", "sent/s"
		for (j = 1; j <= nk; j++) {
			key = keys[j]; split(key, p, SUBSEP)
			p99 = med(key, "latency-p99-µs")
			printf "%-8s %-20s %-22s %-22s %-16s %-12s %s\n", p[1], p[2], cell(key, "server-cpu-s/10k", "%.3f"), cell(key, "client-cpu-s/10k", "%.3f"),
				sprintf("%.2f/%.2f", med(key, "server-ctxsw/shake"), med(key, "client-ctxsw/shake")),
				(p99 == "" ? "-" : sprintf("%.1f ms", p99 / 1000)), sprintf("%.0f", med(key, "sent/s"))
		}
	}
	function maxpass(   j, m) { m = 0; for (j = 1; j <= nk; j++) if (cnt[keys[j]] > m) m = cnt[keys[j]]; return m }
	' "$1"
}

run() { # package regexp benchtime [extra]
	echo "# go test -run '^\$' -bench '$2' -benchtime $3 $1"
	go test -run '^$' -bench "$2" -benchtime "$3" -benchmem "$1" | grep -E '^(Benchmark|ok|FAIL)' || true
}

echo "# hbctl benchmarks, $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The paced pairs run the real server binary.
HBCTL_BIN=${HBCTL_BIN:-$PWD/bin/hbctl}
[ -x "$HBCTL_BIN" ] || go build -o "$HBCTL_BIN" ./cli/hbctl
export HBCTL_BIN
echo "# paced: server and client per 10,000 SHAKEs, engine pairs beside the floor pair of the same rate"
short=
[ "$mode" = quick ] && short=-short
paced=$(mktemp)
trap 'rm -f "$paced"' EXIT
for pass in $(seq 1 "$reps"); do
	[ "$reps" -gt 1 ] && echo "# go test -run '^\$' -bench Paced -benchtime 1x $short ./agents (pass $pass of $reps, load $(cut -d' ' -f1-3 /proc/loadavg))"
	go test -run '^$' -bench 'Paced' -benchtime 1x $short ./agents | grep -E '^(Benchmark|ok|FAIL)' |
		while IFS= read -r line; do
			echo "$line"
			case $line in BenchmarkPaced*) echo "$pass $line" >>"$paced" ;; esac
		done || true
done
paced_summary "$paced"
[ "$mode" = paced ] && exit 0
run ./server/wire . 1s
run ./server/ledger . 2000x
run ./coordinator/schedule . 1s
run ./server 'NextShare|ShakeInProcess' 100000x
run ./telemetry . 1s
run ./coordinator 'TimelineAdd|SecondPoints' 200x
run ./coordinator/report . 20x
if [ "$mode" = all ]; then
	echo "# closed loop: each answer triggers the next request (a batching no user load gives)"
	run ./server 'ServerChild' 200000x
	run ./server 'ServerRSS|KernelFloor' 1x
	run ./agents 'Agent' 1x
	run ./checks 'Verify' 3x
else
	go test -run '^$' -bench 'Verify' -benchtime 3x -short ./checks | grep -E '^(Benchmark|ok|FAIL)' || true
fi
