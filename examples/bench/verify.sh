#!/usr/bin/env bash
# Benchmarks `mtfdump verify` against `dd if=MEDIUM of=/dev/null bs=1M` on the same medium in the
# same run, warm page cache (a script, not a timed test).
#
#   bash examples/bench/verify.sh [SIZE_MIB] [ROUNDS]     # defaults: 850 MiB, 7 rounds
#
# Builds a medium of about SIZE_MIB with mtfpack --csum (soft filemarks, CSUM streams after every
# file's data) from a generated tree in ${BENCH_DIR:-/dev/shm/mtf-bench-verify}, then runs dd and
# verify alternately ROUNDS times and reports the best and the median of each, the ratio
# dd time / verify time (1.0 = as fast as dd; the target is >= 0.95), and the peak RSS of both
# (/usr/bin/time -v).
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-850}
rounds=${2:-7}
work=${BENCH_DIR:-/dev/shm/mtf-bench-verify}
mkdir -p "$work"
cargo build -q --release -p mtf-examples --bin mtfdump --bin mtfpack
dump=$PWD/target/release/mtfdump
pack=$PWD/target/release/mtfpack
medium=$work/verify.bkf

if [[ ! -f $medium || $(stat -c %s "$medium") -lt $((size_mib * 1024 * 1024)) ]]; then
  rm -rf "$work/src" "$medium"
  mkdir -p "$work/src/data/sub"
  # Files of 64 MiB with non-constant contents, plus small ones (many CSUM streams).
  python3 - "$work/src/data" "$size_mib" <<'PY'
import os, sys
d, size = sys.argv[1], int(sys.argv[2])
block = bytes((i * 131 + 7) % 251 for i in range(1 << 20))
per = 64
for k in range((size + per - 1) // per):
    with open(os.path.join(d, f"part{k:03}.bin"), "wb") as f:
        for m in range(per):
            f.write(block[m % 7:] + block[:m % 7])
for k in range(200):
    with open(os.path.join(d, "sub", f"small{k}.txt"), "w") as f:
        f.write("small file %d\n" % k * (k + 1))
PY
  (cd "$work/src" && "$pack" data -o "$medium" --csum --name "verify bench" \
     --date 2026-01-01T00:00:00 --family-id 0x42 --machine BENCH >/dev/null)
  rm -rf "$work/src"
fi
bytes=$(stat -c %s "$medium")
echo "medium: $medium, $bytes bytes"
"$dump" verify "$medium" | sed -n 1p   # reads it all: mtfdump reports a closed pipe as an error

ms() { # wall time in ms of one run of a command
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
rss() { # peak RSS in KiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'
}

cat "$medium" >/dev/null   # warm the page cache
dd_times=()
ver_times=()
for r in $(seq "$rounds"); do
  if (( r % 2 )); then
    dd_times+=("$(ms dd if="$medium" of=/dev/null bs=1M)")
    ver_times+=("$(ms "$dump" verify "$medium")")
  else
    ver_times+=("$(ms "$dump" verify "$medium")")
    dd_times+=("$(ms dd if="$medium" of=/dev/null bs=1M)")
  fi
done
python3 - "${dd_times[*]}" "${ver_times[*]}" "$bytes" <<'PY'
import statistics, sys
dd = [int(x) for x in sys.argv[1].split()]
ver = [int(x) for x in sys.argv[2].split()]
mb = int(sys.argv[3]) / 1e6
for name, t in (("dd bs=1M", dd), ("verify", ver)):
    print(f"{name:9} best {min(t)} ms ({mb / min(t) * 1000:.0f} MB/s), median {statistics.median(t)} ms, all {t}")
print(f"ratio dd/verify: best {min(dd) / min(ver):.3f}, median {statistics.median(dd) / statistics.median(ver):.3f} (target >= 0.95)")
PY
echo "peak RSS: dd $(rss dd if="$medium" of=/dev/null bs=1M) KiB, verify $(rss "$dump" verify "$medium") KiB"
