#!/usr/bin/env bash
# Benchmarks `mtfdump plan` and `mtfdump history` over a folder of 1,000 backup files (a
# script, not a timed test).
#
#   bash examples/bench/plan.sh [COUNT]        # default 1000 files
#
# The folder is made of hard links to the real SQL Server samples in the foreign folder
# (../shared/testdata/foreign or $MTF_FOREIGN_DIR), under ${BENCH_DIR:-target/bench}/plan; it is
# never committed. Hard links of a few samples repeat the same backup sets, so the planner sees
# ~30 distinct sets in 1,000 files: the header reading is what this measures. The planner over
# 1,000 *distinct* sets is measured by media's ignored plan_scale test, run at the end.
#
# Reports, in one run:
#   - `plan DIR` (list every file from its catalog, group, plan): best of 3 warm wall time, and
#     the bytes it read (from `sets --json`) against the folder's size;
#   - the same folder read whole by `cat DIR/* > /dev/null`, best of 3, and the ratio;
#   - `history import DIR` once, then `plan --history DB` (no media read): best of 3;
#   - peak RSS of each (/usr/bin/time -v).
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-1000}
foreign=${MTF_FOREIGN_DIR:-../shared/testdata/foreign}
work=${BENCH_DIR:-$PWD/target/bench}/plan
cargo build -q --release -p mtf-examples --bin mtfdump
dump=$PWD/target/release/mtfdump

rm -rf "$work"
mkdir -p "$work/media"
mapfile -t samples < <(find "$foreign" -type f \( -name '*.bak' -o -name '*.trn' \) ! -name 'compressed_*' | sort)
for ((i = 0; i < count; i++)); do
  s=${samples[$((i % ${#samples[@]}))]}
  ln "$s" "$work/media/$(printf '%04d' "$i")_$(basename "$s")" 2>/dev/null \
    || cp "$s" "$work/media/$(printf '%04d' "$i")_$(basename "$s")"
done
total=$(du -sb --count-links "$work/media" | cut -f1)
echo "folder: $count files, $total bytes (hard links to ${#samples[@]} samples)"

best() { # best wall time in ms of N runs of a command
  local n=$1; shift
  local best=
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [[ -z $best || $ms -lt $best ]]; then best=$ms; fi
  done
  echo "$best"
}
rss() { # peak RSS in KiB
  { /usr/bin/time -v "$@" 2>&1 >/dev/null || true; } | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'
}
catall() { find "$work/media" -type f -exec cat {} + >/dev/null; }

plan_ms=$(best 3 "$dump" plan "$work/media")
cat_ms=$(best 3 catall)
read_bytes=$({ "$dump" sets --json "$work"/media/* 2>/dev/null || true; } \
  | python3 -c 'import json,sys; print(sum(m["bytes_read"] for m in json.load(sys.stdin)["media"]))')
echo "plan DIR:          ${plan_ms} ms, $(rss "$dump" plan "$work/media") KiB peak RSS; read ${read_bytes} of ${total} bytes"
echo "cat DIR/*:         ${cat_ms} ms; plan/cat time ratio $(python3 -c "print(round($plan_ms/max($cat_ms,1),2))")"
rm -f "$work/history.db"
t0=$(date +%s%N); "$dump" history import "$work/media" --history "$work/history.db" >/dev/null || true; t1=$(date +%s%N)
echo "history import:    $(( (t1 - t0) / 1000000 )) ms, $(rss "$dump" history import "$work/media" --history "$work/history.db") KiB peak RSS (second, idempotent run)"
hist_ms=$(best 3 "$dump" plan --history "$work/history.db")
echo "plan --history DB: ${hist_ms} ms, $(rss "$dump" plan --history "$work/history.db") KiB peak RSS"
cargo test -q --release -p media --test plan_scale -- --ignored --nocapture 2>/dev/null | grep 'sets:'
