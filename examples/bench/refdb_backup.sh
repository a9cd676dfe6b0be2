#!/usr/bin/env bash
# The reference engine's backup and restore through media, against the plain tools for the same
# bytes in the same run. Builds a database of about SIZE MiB (default 2048) on /dev/shm by
# bulk-loading 4 filegroups of 2 data files each, then measures:
#   - a full backup to an emulated tape image on tmpfs (/dev/shm: the CLI writes tape images,
#     not an in-memory tape object, so "in memory" here means a file on tmpfs),
#   - against `cp -r` of the database directory and `dd` of the same bytes (one file: the
#     data files concatenated) on the same filesystem,
#   - the restore of that set against the same,
#   - a full backup striped over 2 tape images,
# each the best of 3 runs, with its peak RSS (/usr/bin/time, through wait4).
#   bash examples/bench/refdb_backup.sh [SIZE_MIB]
# Prints the figures (speed ratio = plain tool's time / refdb's time); a benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-2048}
fgs=4
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build -q --release -p mtf-examples --bin refdb
refdb=$PWD/target/release/refdb
w=/dev/shm/refdb-backup-bench
rm -rf "$w"; mkdir -p "$w"; cd "$w"
args=(); for i in $(seq 1 "$fgs"); do args+=(--filegroup "g$i" --file "g$i:g${i}b"); done
"$refdb" create db --recovery bulk-logged "${args[@]}" >/dev/null
# Values padded to 400 bytes: about 1780 rows per MiB of pages (measured on this engine's
# bulk-load), so 2 GiB stays within bulk-load's 1,000,000 rows a filegroup.
rows=$((size * 1780 / fgs))
for i in $(seq 1 "$fgs"); do
  "$refdb" bulk-load db --filegroup "g$i" --rows "$rows" --value-bytes 400 >/dev/null
done
"$refdb" set db --recovery full >/dev/null
bytes=$(du -cb db | tail -1 | cut -f1)
echo "database: $((bytes / 1048576)) MiB in $(find db -name '*.?df' | wc -l) files; uptime: $(uptime)"
cat db/* >all.bin
export refdb
# best PRE RUN: the best of 3 runs of the shell command RUN (after PRE each time):
# "seconds maxrss" (the max RSS of RUN's processes, through wait4).
best() {
  local b="" r
  for _ in 1 2 3; do
    bash -c "$1"
    /usr/bin/time -f "%e %M" -o "$w/time" bash -c "$2" >/dev/null 2>"$w/err" || { cat "$w/err"; exit 1; }
    r=$(cat "$w/time")
    if [ -z "$b" ] || [ "$(echo "${r% *} < ${b% *}" | bc)" = 1 ]; then b=$r; fi
  done
  echo "$b"
}
c=$(best "rm -rf copy" "cp -r db copy")
d=$(best "rm -f dd.bin" "dd if=all.bin of=dd.bin bs=1M status=none")
rm -f all.bin dd.bin; rm -rf copy
b=$(best "rm -f full.tap refdb-history.db" '"$refdb" backup db --type full --to full.tap --format --copy-only')
s=$(best "rm -f s1.tap s2.tap" '"$refdb" backup db --type full --to s1.tap --to s2.tap --format --copy-only')
rm -f s1.tap s2.tap
r=$(best "rm -rf r" '"$refdb" restore r --from full.tap')
ratio() { echo "scale=2; ${1% *} / ${2% *}" | bc; }
vs() { echo "$(ratio "$c" "$1")x cp -r, $(ratio "$d" "$1")x dd"; }
echo "cp -r of the database: ${c% *} s (max RSS ${c#* } KiB)"
echo "dd of the same bytes (bs=1M): ${d% *} s (max RSS ${d#* } KiB)"
echo "full backup to a tape image on tmpfs: ${b% *} s, $(vs "$b") (max RSS ${b#* } KiB)"
echo "full backup striped over 2 tape images: ${s% *} s, $(vs "$s"), $(ratio "$b" "$s")x one device (max RSS ${s#* } KiB)"
echo "restore from the tape image: ${r% *} s, $(vs "$r") (max RSS ${r#* } KiB)"
[ -n "${KEEP:-}" ] || { cd /; rm -rf "$w"; }
