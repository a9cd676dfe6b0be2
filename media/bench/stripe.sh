#!/bin/sh
# Striping throughput over N in-memory emulated tapes, N = 1 up to the core count, against one
# device; peak RSS of each run. Usage: bash media/bench/stripe.sh [SIZE_MIB] (default 2048).
set -eu
size=${1:-2048}
cores=$(nproc)
cd "$(dirname "$0")/../.."
cargo build --release -q -p media --example stripe_bench
bin=target/release/examples/stripe_bench
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $cores cores (other work on the machine skews the wall-clock ratio; CPU per GiB does not)"
echo "baseline: dd of the same amount from /dev/zero to /dev/null (a memory copy rate)"
dd if=/dev/zero of=/dev/null bs=1M count="$size" 2>&1 | tail -1
one=""
for round in 1 2 3; do
  n=1
  while [ "$n" -le "$cores" ]; do
    out=$( { /usr/bin/time -v "$bin" "$n" "$size"; } 2>&1 )
    rate=$(echo "$out" | sed -n 's/.*= \([0-9]*\) MiB\/s.*/\1/p')
    rss=$(echo "$out" | sed -n 's/.*Maximum resident set size (kbytes): //p')
    user=$(echo "$out" | sed -n 's/.*User time (seconds): //p')
    sys=$(echo "$out" | sed -n 's/.*System time (seconds): //p')
    cpu=$(echo "$out" | sed -n 's/.*Percent of CPU this job got: //p')
    [ "$n" -eq 1 ] && one=$rate
    echo "round $round: $n device(s): $rate MiB/s, x$(awk "BEGIN{printf \"%.2f\", $rate/$one}") of one device (scaling target >= $(awk "BEGIN{printf \"%.1f\", 0.8*$n}")), CPU $(awk "BEGIN{printf \"%.2f\", ($user+$sys)*1024/$size}") s per GiB at $cpu, peak RSS $((rss / 1024)) MiB"
    n=$((n + 1))
  done
done
