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
# in alternating rounds (ROUNDS, default 5), each job's best and median time, with its peak RSS
# (/usr/bin/time, through wait4), memory warmed before each job (see warm below).
#   [ROUNDS=N] bash examples/bench/refdb_backup.sh [SIZE_MIB]
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
# The jobs, measured in alternating rounds (each job once a round, ROUNDS rounds, default 5):
# this virtual machine's speed drifts by half within minutes, and jobs timed in one stretch
# each (3 runs of cp, then 3 of the backup...) were compared across different speeds.
rounds=${ROUNDS:-5}
jobs=(cp dd striped backup restore)
# Each job's output goes as soon as it is timed (the restore reads the backup's image), so that
# every job runs with the same memory free: 2 GiB outputs left on tmpfs slowed the later jobs.
run_cp="cp -r db copy";                 post_cp="rm -rf copy"
run_dd="dd if=all.bin of=dd.bin bs=1M status=none"; post_dd="rm -f dd.bin"
run_striped='"$refdb" backup db --type full --to s1.tap --to s2.tap --format --copy-only'
post_striped="rm -f s1.tap s2.tap refdb-history.db"
run_backup='"$refdb" backup db --type full --to full.tap --format --copy-only'
post_backup="rm -f refdb-history.db"
run_restore='"$refdb" restore r --from full.tap'; post_restore="rm -rf r full.tap"
# Before each job, memory is warmed: SIZE*3/2 MiB written to tmpfs and removed at once. Why: the
# development machine is a Firecracker VM whose kernel reports free memory to the host
# (virtio-balloon free page reporting, page_reporting_order=11 on its command line); the host
# takes reported pages back, and the next job to touch them waits on the host for each. Which
# job met reported pages depended on the order and timing of the jobs before it (the restore,
# which runs while the backup's 2 GiB image is held, took 5 s against 1.3 s warm). Warmed, each
# job gets pages the host still backs, whatever ran before it.
warm() { head -c "$((size * 3 / 2))M" /dev/zero >"$w/warm"; rm -f "$w/warm"; }
for _ in $(seq 1 "$rounds"); do
  for j in "${jobs[@]}"; do
    run=run_$j post=post_$j
    warm
    /usr/bin/time -f "%e %M" -o "$w/time" bash -c "${!run}" >/dev/null 2>"$w/err" || { cat "$w/err"; exit 1; }
    cat "$w/time" >>"$w/times.$j"
    bash -c "${!post}"
  done
done
rm -f all.bin
# stat JOB: "best median maxrss" of the job's rounds (seconds, seconds, KiB: the largest).
stat() {
  sort -n "$w/times.$1" | awk '{t[NR]=$1; if ($2>m) m=$2} END {print t[1], t[int((NR+1)/2)], m}'
}
for j in "${jobs[@]}"; do read -r best med rss <<<"$(stat "$j")"; eval "b_$j=$best m_$j=$med r_$j=$rss"; done
ratio() { echo "scale=2; $1 / $2" | bc; }
# vs JOB: the speed ratios against cp -r and dd, best against best and median against median.
vs() {
  local b=b_$1 m=m_$1
  echo "$(ratio "$b_cp" "${!b}")x cp -r (median $(ratio "$m_cp" "${!m}")x), $(ratio "$b_dd" "${!b}")x dd (median $(ratio "$m_dd" "${!m}")x)"
}
echo "$rounds alternating rounds; best and median seconds"
echo "cp -r of the database: $b_cp s, median $m_cp s (max RSS $r_cp KiB)"
echo "dd of the same bytes (bs=1M): $b_dd s, median $m_dd s (max RSS $r_dd KiB)"
echo "full backup to a tape image on tmpfs: $b_backup s, median $m_backup s: $(vs backup) (max RSS $r_backup KiB)"
echo "full backup striped over 2 tape images: $b_striped s, median $m_striped s: $(vs striped), $(ratio "$b_backup" "$b_striped")x one device (max RSS $r_striped KiB)"
echo "restore from the tape image: $b_restore s, median $m_restore s: $(vs restore) (max RSS $r_restore KiB)"
[ -n "${KEEP:-}" ] || { cd /; rm -rf "$w"; }
