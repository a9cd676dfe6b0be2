#!/usr/bin/env bash
# The reference engine's figures: commits per second with fsync (on the disk under WORKDIR and
# on tmpfs /dev/shm), against the plain rate of small synchronous writes (dd oflag=dsync) on
# the same filesystem in the same run; recovery time after a crash with ~100 MB of log to
# replay, against reading that log with cat; peak RSS of each (/usr/bin/time).
#   bash examples/bench/refdb.sh [WORKDIR] [COMMITS] [LOG_MB]
# Prints the figures; a benchmark, not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$PWD/target/refdb-bench}
ops=${2:-20000}
log_mb=${3:-100}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build -q --release -p mtf-examples --bin refdb
refdb=$PWD/target/release/refdb
t() { /usr/bin/time -f "%e s, max RSS %M KiB" "$@"; }

commits() { # DIR THREADS
  rm -rf "$1"; "$refdb" create "$1" --recovery full >/dev/null
  s=$(date +%s.%N)
  t "$refdb" workload "$1" --ops "$ops" --threads "$2" --rollback-pct 0 > "$1.out" 2> "$1.time"
  e=$(date +%s.%N)
  n=$(grep -c '^commit' "$1.out")
  echo "$(echo "scale=0; $n / ($e - $s)" | bc) commits/s ($n commits, $2 threads; $(tail -1 "$1.time"))"
}
dsync() { # DIR: 4 KiB synchronous writes per second, the plain tool's rate
  mkdir -p "$1"
  s=$(date +%s.%N); dd if=/dev/zero of="$1/dsync" bs=4k count=2000 oflag=dsync status=none; e=$(date +%s.%N)
  rm -f "$1/dsync"
  echo "scale=0; 2000 / ($e - $s)" | bc
}

for fs in "$work" /dev/shm/refdb-bench; do
  mkdir -p "$fs"
  echo "== $fs"
  echo "dd bs=4k oflag=dsync: $(dsync "$fs") writes/s"
  echo "refdb, 1 thread:  $(commits "$fs/db1" 1)"
  echo "refdb, 4 threads: $(commits "$fs/db4" 4)"
done
rm -rf /dev/shm/refdb-bench

echo "== recovery after a crash with ~${log_mb} MB of log"
db=$work/recover
rm -rf "$db"; "$refdb" create "$db" --recovery full >/dev/null
# No checkpoint during the run (so the whole log is replayed), large values, then SIGKILL.
"$refdb" workload "$db" --ops 100000000 --keys 8000 --value-pad 1500 --threads 2 \
  --checkpoint-every 100000000000 --pool-pages 4096 > /dev/null 2>&1 &
pid=$!
while [ "$(stat -c %s "$db/log.ldf")" -lt $((log_mb << 20)) ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the workload stopped before writing ${log_mb} MB of log"; exit 1; }
  sleep 0.5
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
log_bytes=$(stat -c %s "$db/log.ldf")
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
s=$(date +%s.%N); cat "$db/log.ldf" > /dev/null; e=$(date +%s.%N)
echo "cat of the log ($log_bytes bytes): $(echo "$e - $s" | bc) s"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
echo "recovery (refdb info opens the database: analysis, redo, undo, checkpoint):"
t "$refdb" info "$db" 2>&1 | grep -E 'recovered|max RSS'
echo "check after recovery:"
t "$refdb" check "$db" 2>&1 | grep -E 'rows|max RSS'
echo "log after recovery: $(stat -c %s "$db/log.ldf") bytes"
