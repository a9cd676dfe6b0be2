#!/usr/bin/env bash
# Extraction against `tar -x` of the same tree, on tmpfs (a script, not a timed test).
#
#   bash examples/bench/extract.sh [ROUNDS]      # default 3 rounds per case
#
# Cases, each packed once with mtfpack and with tar (the same tree), then extracted into a
# fresh directory on tmpfs, mtfdump and tar in alternating order, best and median wall time:
#   - 20,000 and 200,000 empty files (1,000 per directory);
#   - a 1 GiB tree (64 files of 16 MiB);
#   - a 6-star pattern (`*a*b*c*d*e*f`) selecting from 20,000 paths (against no pattern).
# Prints the ratio mtfdump/tar and the peak RSS of each (/usr/bin/time -v).
# Work files go to ${BENCH_DIR:-/dev/shm/mtf-extract-bench} (about 3 GiB at most).
# Goal (issue 10): within 1.5x of tar -x at 200,000 files. An empty file costs openat (O_EXCL,
# under its real name), utimensat and close; tar -x adds fchown and fchmod. Measured 2026-12-03,
# 2 cores shared with other builds (load 3.3 to 10): empty-20k 0.92 to 1.16, empty-200k 0.76 to
# 1.35, tree-1GiB 0.34 to 0.76, pattern-20k 0.85 to 1.29 (before: 2.15, 1.98, 0.36, 1.84).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
work=${BENCH_DIR:-/dev/shm/mtf-extract-bench}
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p mtf-examples --bin mtfdump --bin mtfpack
dump=$PWD/target/release/mtfdump
pack=$PWD/target/release/mtfpack

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'; }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[1], a[int((NR+1)/2)]}'; }

make_empty() { # DIR N
  python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for k in range(n):
    sub = os.path.join(d, f"d{k // 1000:04}")
    if k % 1000 == 0:
        os.makedirs(sub, exist_ok=True)
    open(os.path.join(sub, f"file-{k:06}-abcdef"), "w").close()
PY
}
make_big() { # DIR
  mkdir -p "$1/big"
  python3 - "$1/big" <<'PY'
import os, sys
block = bytes((i * 131 + 7) % 251 for i in range(1 << 20))
for k in range(64):
    with open(os.path.join(sys.argv[1], f"part{k:02}.bin"), "wb") as f:
        for m in range(16):
            f.write(block[m:] + block[:m])
PY
}

case_run() { # NAME MAKE ARG [PATTERN]
  local name=$1 make=$2 arg=$3 pat=${4:-}
  local src=$work/src-$name
  rm -rf "$src"; mkdir -p "$src"
  $make "$src" $arg
  (cd "$src" && tar -cf "$work/$name.tar" .)
  "$pack" "$src" -o "$work/$name.bkf" --date 2026-01-01T00:00:00 --family-id 7 --machine B >/dev/null 2>&1
  rm -rf "$src"
  local m=() t=()
  for r in $(seq "$rounds"); do
    # Alternating which goes first.
    if (( r % 2 )); then order="mtf tar"; else order="tar mtf"; fi
    for who in $order; do
      rm -rf "$work/out"; mkdir -p "$work/out"; sync
      if [[ $who == mtf ]]; then
        if [[ -n $pat ]]; then
          m+=("$(ms "$dump" extract --set 1 -C "$work/out" "$work/$name.bkf" --pattern "$pat")")
        else
          m+=("$(ms "$dump" extract --set 1 -C "$work/out" "$work/$name.bkf")")
        fi
      else
        if [[ -n $pat ]]; then
          t+=("$(ms tar -xf "$work/$name.tar" -C "$work/out" --wildcards "$pat")")
        else
          t+=("$(ms tar -xf "$work/$name.tar" -C "$work/out")")
        fi
      fi
    done
  done
  read -r mb mm < <(printf '%s\n' "${m[@]}" | stats)
  read -r tb tm < <(printf '%s\n' "${t[@]}" | stats)
  rm -rf "$work/out"; mkdir -p "$work/out"
  local mr tr
  if [[ -n $pat ]]; then
    mr=$(rss "$dump" extract --set 1 -C "$work/out" "$work/$name.bkf" --pattern "$pat")
  else
    mr=$(rss "$dump" extract --set 1 -C "$work/out" "$work/$name.bkf")
  fi
  rm -rf "$work/out"; mkdir -p "$work/out"
  tr=$(rss tar -xf "$work/$name.tar" -C "$work/out")
  printf '%-26s mtfdump best %6d ms median %6d ms | tar -x best %6d ms median %6d ms | ratio %s | RSS %s / %s KiB\n' \
    "$name${pat:+ [$pat]}" "$mb" "$mm" "$tb" "$tm" \
    "$(awk -v a="$mb" -v b="$tb" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')" "$mr" "$tr"
  rm -f "$work/$name.tar" "$work/$name.bkf"; rm -rf "$work/out"
}

echo "extract vs tar -x on $(df --output=fstype "$work" | tail -1) ($work), $rounds rounds, $(nproc) cores"
case_run empty-20k make_empty 20000
case_run empty-200k make_empty 200000
case_run tree-1GiB make_big ""
case_run pattern-20k make_empty 20000 '*a*b*c*d*e*f'
