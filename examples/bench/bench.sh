#!/usr/bin/env bash
# Benchmarks mtfdump on a large medium (a script, not a timed test).
#
#   bash examples/bench/bench.sh [SIZE_MIB]        # default 2200 MiB (> 2 GiB)
#
# Builds a medium of SIZE_MIB with this project's own writer (mtfpack, soft filemarks, 64 KiB
# blocks, CSUM streams) from a generated tree, then measures, in one run:
#   - `label` and `sets`: warm wall time (best of 5) and the bytes each read (they report it);
#   - `verify` against `cat FILE > /dev/null`, and `extract` against `cp FILE`, warm, best of 3;
#   - peak RSS of every subcommand (/usr/bin/time -v).
# Work files go to ${BENCH_DIR:-target/bench} (about 2 x SIZE_MIB of disk).
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-2200}
work=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$work"
cargo build -q --release -p mtf-examples --bin mtfdump --bin mtfpack
dump=$PWD/target/release/mtfdump
pack=$PWD/target/release/mtfpack
medium=$work/big.bkf

if [[ ! -f $medium || $(stat -c %s "$medium") -lt $((size_mib * 1024 * 1024)) ]]; then
  rm -rf "$work/src" "$medium"
  mkdir -p "$work/src/data/sub"
  # Files of 256 MiB with non-constant contents, plus a few small ones.
  per=256
  n=$(( (size_mib + per - 1) / per ))
  python3 - "$work/src/data" "$n" "$per" <<'PY'
import os, sys
d, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = bytes((i * 131 + 7) % 251 for i in range(1 << 20))
for k in range(n):
    with open(os.path.join(d, f"part{k:02}.bin"), "wb") as f:
        for m in range(per):
            f.write(block[m % 7:] + block[:m % 7])
for k in range(50):
    with open(os.path.join(d, "sub", f"small{k}.txt"), "w") as f:
        f.write("small file %d\n" % k * (k + 1))
PY
  (cd "$work/src" && "$pack" data -o "$medium" --block-size 65536 --csum \
     --name "bench set" --date 2026-01-01T00:00:00 --family-id 0x42 --machine BENCH >/dev/null)
fi
bytes=$(stat -c %s "$medium")
echo "medium: $medium, $bytes bytes"

best() { # best wall time in ms of N runs of a command
  local n=$1; shift
  local best=
  for _ in $(seq "$n"); do
    local t0 t1
    sync
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [[ -z $best || $ms -lt $best ]]; then best=$ms; fi
  done
  echo "$best"
}
rss() { # peak RSS in KiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'
}

cat "$medium" >/dev/null   # warm the page cache
echo
echo "== label / sets (warm, best of 5)"
for cmd in label sets; do
  ms=$(best 5 "$dump" $cmd "$medium")
  read_bytes=$("$dump" --json $cmd "$medium" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["media"][0]["bytes_read"])')
  echo "$cmd: ${ms} ms, ${read_bytes} bytes read of $bytes, peak RSS $(rss "$dump" $cmd "$medium") KiB"
done

echo
echo "== verify vs cat (warm, best of 5)"
cat_ms=$(best 5 sh -c "cat '$medium' > /dev/null")
ver_ms=$(best 5 "$dump" verify "$medium")
echo "cat:    ${cat_ms} ms"
echo "verify: ${ver_ms} ms  (speed ratio verify/cat = $(python3 -c "print(round($cat_ms/$ver_ms, 3))")), peak RSS $(rss "$dump" verify "$medium") KiB"

echo
echo "== extract vs cp (warm, 7 rounds, alternating order)"
# Writing 2.4 GB twice a round leaves the disk's writeback state to whoever runs next: each
# run starts after a sync with its previous output removed (outside the timing), and the two
# take turns going first.
out=$work/out
ms_of() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
run_cp() { rm -f "$work/copy.bkf"; sync; c=$(ms_of cp "$medium" "$work/copy.bkf"); }
run_ex() { rm -rf "$out"; sync; e=$(ms_of "$dump" extract --set 1 -C "$out" "$medium"); }
cp_ms=; ex_ms=; cps=(); exs=()
for r in 1 2 3 4 5 6 7; do
  if ((r % 2)); then run_cp; run_ex; else run_ex; run_cp; fi
  echo "  round $r: cp $c ms, extract $e ms"
  cps+=("$c"); exs+=("$e")
  if [[ -z $cp_ms || $c -lt $cp_ms ]]; then cp_ms=$c; fi
  if [[ -z $ex_ms || $e -lt $ex_ms ]]; then ex_ms=$e; fi
done
rm -f "$work/copy.bkf"
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
cp_med=$(median "${cps[@]}"); ex_med=$(median "${exs[@]}")
echo "cp:      best ${cp_ms} ms, median ${cp_med} ms"
echo "extract: best ${ex_ms} ms, median ${ex_med} ms  (speed ratio extract/cp: best $(python3 -c "print(round($cp_ms/$ex_ms, 3))"), median $(python3 -c "print(round($cp_med/$ex_med, 3))")), peak RSS $(rm -rf "$out"; rss "$dump" extract --set 1 -C "$out" "$medium") KiB"
rm -rf "$out"

echo
echo "== peak RSS of the other subcommands"
for cmd in ls blocks; do
  echo "$cmd: $(rss "$dump" $cmd "$medium") KiB"
done
