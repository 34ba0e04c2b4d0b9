#!/usr/bin/env bash
# Run hbctl's benchmarks and print the figures a closing note or a review
# needs. Every benchmark is bounded (-benchtime counts, not open-ended), and
# the ones that measure a child process start and stop it themselves.
#
#   scripts/bench.sh [quick|all] [-o FILE]
#
# quick (default): codec, journal, schedule, shares, sinks, reconciliation
#                  at 100k users, report; a few minutes.
# all:             also the server at 10,000 and 15,000 connections, the agent
#                  at 15,000 connections and 10,000 SHAKE/s, and the
#                  reconciliation of 1,000,000 users.
# Timings on a shared machine are noisy: compare ratios within one run and
# repeat (benchstat helps) before quoting.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=quick
out=
while [ $# -gt 0 ]; do
	case "$1" in
	quick|all) mode=$1 ;;
	-o) out=$2; shift ;;
	-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] && exec > >(tee "$out")

run() { # package regexp benchtime [extra]
	echo "# go test -run '^\$' -bench '$2' -benchtime $3 $1"
	go test -run '^$' -bench "$2" -benchtime "$3" -benchmem "$1" | grep -E '^(Benchmark|ok|FAIL)' || true
}

echo "# hbctl benchmarks, $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run ./server/wire . 1s
run ./server/ledger . 2000x
run ./coordinator/schedule . 1s
run ./server 'NextShare|ShakeInProcess' 100000x
run ./telemetry . 1s
run ./coordinator 'TimelineAdd|SecondPoints' 200x
run ./coordinator/report . 20x
if [ "$mode" = all ]; then
	run ./server 'ServerChild' 200000x
	run ./server 'ServerRSS|KernelFloor' 1x
	run ./agents 'Agent' 1x
	run ./checks 'Verify' 3x
else
	go test -run '^$' -bench 'Verify' -benchtime 3x -short ./checks | grep -E '^(Benchmark|ok|FAIL)' || true
fi
