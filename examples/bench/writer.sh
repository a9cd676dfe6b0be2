#!/usr/bin/env bash
# Writer throughput: mtfpack of a generated tree (default 2 GiB) to a file, against `dd bs=1M`
# of the same bytes to the same filesystem, in the same run; peak RSS from /usr/bin/time.
# mtfpack syncs its output to disk before it exits (a backup must be durable), so dd runs with
# conv=fsync: both are timed until the bytes are on stable storage. Three rounds, the order of
# the two alternating, so that page cache and writeback state favour neither.
#   bash examples/bench/writer.sh [SIZE_MIB] [WORKDIR]
# Prints the figures; it is a benchmark, not a test, and asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-2048}
work=${2:-${TMPDIR:-/tmp}/mtf-bench-writer}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build -q --release -p mtf-examples --bin mtfpack
pack=$PWD/target/release/mtfpack
rm -rf "$work"; mkdir -p "$work/tree/big" "$work/tree/small"
# The tree: 1/8 of the bytes in 2,000 small files, the rest in 64 MiB files.
small_total=$(( size_mib * 1024 * 1024 / 8 ))
per_small=$(( small_total / 2000 ))
head -c "$per_small" /dev/urandom > "$work/seed.small"
for i in $(seq 1 2000); do cp "$work/seed.small" "$work/tree/small/f$i"; done
big=$(( (size_mib - size_mib / 8) / 64 ))
head -c $((64 << 20)) /dev/urandom > "$work/seed.big"
for i in $(seq 1 "$big"); do cp "$work/seed.big" "$work/tree/big/b$i"; done
bytes=$(du -sb "$work/tree" | cut -f1)
# Warm the page cache for both runs alike.
cat "$work"/tree/*/* > /dev/null
t() { /usr/bin/time -f "%e s, max RSS %M KiB" "$@"; }
echo "tree: $bytes bytes in $(find "$work/tree" -type f | wc -l) files"
run_dd() {
  rm -f "$work/out.dd"; sync
  s=$(date +%s.%N); cat "$work"/tree/*/* | dd of="$work/out.dd" bs=1M conv=fsync status=none; e=$(date +%s.%N)
  dd_s=$(echo "$e - $s" | bc)
  rm -f "$work/out.dd"; sync
}
run_pack() {
  rm -f "$work/out.bkf"; sync
  s=$(date +%s.%N); t "$pack" "$work/tree" -o "$work/out.bkf" --date 2026-01-01T00:00:00 2> "$work/time.txt" >/dev/null; e=$(date +%s.%N)
  pk_s=$(echo "$e - $s" | bc)
  out_bytes=$(stat -c %s "$work/out.bkf")
  rm -f "$work/out.bkf"; sync
}
dd_sum=0; pk_sum=0
for round in 1 2 3; do
  echo "round $round"
  if ((round % 2)); then run_dd; run_pack; else run_pack; run_dd; fi
  dd_sum=$(echo "$dd_sum + $dd_s" | bc); pk_sum=$(echo "$pk_sum + $pk_s" | bc)
  echo "  dd bs=1M conv=fsync: $dd_s s ($(echo "$bytes / $dd_s / 1048576" | bc) MiB/s)"
  echo "  mtfpack:  $pk_s s ($(echo "$bytes / $pk_s / 1048576" | bc) MiB/s), $(tail -1 "$work/time.txt"), output $out_bytes bytes"
  echo "  ratio mtfpack/dd throughput: $(echo "scale=3; $dd_s / $pk_s" | bc)"
done
echo "three rounds: dd $dd_sum s, mtfpack $pk_sum s; ratio mtfpack/dd throughput: $(echo "scale=3; $dd_sum / $pk_sum" | bc)"
rm -rf "$work"
