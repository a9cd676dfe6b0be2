#!/bin/sh
# Striping throughput over N in-memory emulated tapes, N = 1 up to the core count, against one
# device; peak RSS of each run. Usage: bash media/bench/stripe.sh [SIZE_MIB] (default 2048).
set -eu
size=${1:-2048}
cores=$(nproc)
cd "$(dirname "$0")/../.."
cargo build --release -q -p media --example stripe_bench
bin=target/release/examples/stripe_bench
echo "baseline: dd of the same amount from /dev/zero to /dev/null (a memory copy rate)"
dd if=/dev/zero of=/dev/null bs=1M count="$size" 2>&1 | tail -1
one=""
for round in 1 2 3; do
  n=1
  while [ "$n" -le "$cores" ]; do
    out=$( { /usr/bin/time -v "$bin" "$n" "$size"; } 2>&1 )
    rate=$(echo "$out" | sed -n 's/.*= \([0-9]*\) MiB\/s.*/\1/p')
    rss=$(echo "$out" | sed -n 's/.*Maximum resident set size (kbytes): //p')
    [ "$n" -eq 1 ] && one=$rate
    echo "round $round: $n device(s): $rate MiB/s, x$(awk "BEGIN{printf \"%.2f\", $rate/$one}") of one device (scaling target >= $(awk "BEGIN{printf \"%.1f\", 0.8*$n}")), peak RSS $((rss / 1024)) MiB"
    n=$((n + 1))
  done
done
