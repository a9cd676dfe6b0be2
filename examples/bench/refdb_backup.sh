#!/usr/bin/env bash
# The reference engine's backup and restore through media, against the plain tool for the same
# bytes in the same run: a full backup of a database of FILEGROUPS × ~47 MiB (bulk-loaded) to
# an emulated tape image in memory (/dev/shm), against `cp` of the database's files; the
# restore of that set, against `cp` back; a backup striped over 2 tape images. Peak RSS of
# each (/usr/bin/time).
#   bash examples/bench/refdb_backup.sh [FILEGROUPS]
# Prints the figures (speed ratio = cp time / refdb time); a benchmark, not a test.
# The engine's data files are at most 55 MiB each (one allocation map page), so the database
# is several filegroups; the issue's 2 GiB needs more than one data file per filegroup.
set -euo pipefail
cd "$(dirname "$0")/../.."
fgs=${1:-4}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build -q --release -p mtf-examples --bin refdb
refdb=$PWD/target/release/refdb
w=/dev/shm/refdb-backup-bench
rm -rf "$w"; mkdir -p "$w"; cd "$w"
args=(); for i in $(seq 1 "$fgs"); do args+=(--filegroup "g$i"); done
"$refdb" create db --recovery bulk-logged "${args[@]}" >/dev/null
for i in $(seq 1 "$fgs"); do "$refdb" bulk-load db --filegroup "g$i" --rows 1500000 >/dev/null; done
"$refdb" set db --recovery full >/dev/null
bytes=$(du -cb db/*.mdf db/*.ndf db/log.ldf | tail -1 | cut -f1)
echo "database: $((bytes / 1048576)) MiB in $((fgs + 1)) data files"
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
b=$(best "rm -f full.tap refdb-history.db" '"$refdb" backup db --type full --to full.tap --format --copy-only')
s=$(best "rm -f s1.tap s2.tap" '"$refdb" backup db --type full --to s1.tap --to s2.tap --format --copy-only')
r=$(best "rm -rf r" '"$refdb" restore r --from full.tap')
ratio() { echo "scale=2; ${1% *} / ${2% *}" | bc; }
echo "cp -r of the database: ${c% *} s (max RSS ${c#* } KiB)"
echo "full backup to a tape image: ${b% *} s, $(ratio "$c" "$b")x cp's speed (max RSS ${b#* } KiB)"
echo "full backup striped over 2 tape images: ${s% *} s, $(ratio "$c" "$s")x cp's speed, $(ratio "$b" "$s")x one device (max RSS ${s#* } KiB)"
echo "restore from the tape image: ${r% *} s, $(ratio "$c" "$r")x cp's speed (max RSS ${r#* } KiB)"
cd /; rm -rf "$w"
