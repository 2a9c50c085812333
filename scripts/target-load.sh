#!/usr/bin/env bash
# Memory and CPU of `nvme-lab target` (release) under the two hostile loads of nvme-lab's `target_load` example
# (BENCHMARKS.md, "Target under hostile load"). Loopback only; the target is killed at the end by its PID.
#
# Usage: scripts/target-load.sh [NVME_LAB_BINARY] [PORT]
#   builds nothing: run `cargo build --release -p nvme-lab` and
#   `cargo build --release -p nvme-lab --example target_load` first.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-target/release/nvme-lab}
PORT=${2:-14521}
LOAD=target/release/examples/target_load
HOLD=${HOLD:-8}
TICK=$(getconf CLK_TCK)

# RSS in KiB and CPU (user + system) in ms of process $1.
sample() {
	local rss cpu
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
	cpu=$(awk -v t="$TICK" '{ sub(/^.*\) /, ""); split($0, f, " "); print int((f[12] + f[13]) * 1000 / t) }' "/proc/$1/stat")
	echo "$rss $cpu"
}

run() {
	local name=$1
	shift
	"$LAB" target --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
	local pid=$!
	sleep 1
	read -r rss0 cpu0 < <(sample "$pid")
	"$LOAD" --addr "127.0.0.1:$PORT" --hold-secs "$HOLD" "$@" &
	local load=$!
	sleep $((HOLD - 1))
	read -r rss1 cpu1 < <(sample "$pid")
	sleep 1
	wait "$load" || true
	sleep 1
	if kill -0 "$pid" 2>/dev/null; then
		read -r rss2 cpu2 < <(sample "$pid")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	else
		rss2=gone cpu2=gone
	fi
	echo "| $name | $rss0 | $cpu0 | $rss1 | $cpu1 | $rss2 | $cpu2 |"
}

echo "| load | RSS before (KiB) | CPU before (ms) | RSS under load (KiB) | CPU under load (ms) | RSS after (KiB) | CPU after (ms) |"
echo "|---|---|---|---|---|---|---|"
run "never-reads, 16 queues x 128 Reads of 1 MiB" never-reads --queues 16 --reads 128
run "write-flood, 65 537 Writes of 1 MiB on one queue" write-flood --writes 65537
