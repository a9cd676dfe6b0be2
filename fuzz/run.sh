#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one after another, and fails on any finding (crash,
# panic, timeout, out-of-memory, or an allocation above the limit).
#
#   fuzz/run.sh                 every target, $FUZZ_SECONDS (default 60) seconds each
#   fuzz/run.sh 600 walk_chunked tap_image
#
# Environment: FUZZ_SECONDS (per target), FUZZ_SANITIZER (none, the default: the code under test
# has no unsafe code and the targets' own allocator enforces the allocation limit; or address),
# FUZZ_MAX_LEN (default: 16 KiB for the targets that read byte by byte, else 64 KiB),
# FUZZ_RUNS (stop a target after this many executions, if it gets there in time). Before
# fuzzing, every saved finding in fuzz/regressions/<target>/ is replayed. Installs what it
# needs: a nightly toolchain through rustup (minimal profile) and cargo-fuzz. Seeds come from
# fuzz/make-corpus.sh; the corpus grows in fuzz/corpus/<target>, findings land in
# fuzz/artifacts/<target> and logs in fuzz/logs (all gitignored).
set -euo pipefail
cd "$(dirname "$0")"

SECS=${FUZZ_SECONDS:-60}
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  SECS=$1
  shift
fi
SAN=${FUZZ_SANITIZER:-none}
max_len() {
  if [[ -n ${FUZZ_MAX_LEN:-} ]]; then
    echo "$FUZZ_MAX_LEN"
  else
    case $1 in
      walk_chunked | reader_events) echo 16384 ;;
      *) echo 65536 ;;
    esac
  fi
}
RSS_MB=2048
MALLOC_MB=64 # = MALLOC_LIMIT in fuzz/src/lib.rs

# cargo-fuzz needs nightly compiler flags. Use the nightly toolchain when rustup has or can
# fetch one; where it cannot (a machine that reaches only the package registries), the stable
# compiler with RUSTC_BOOTSTRAP=1 accepts the same flags, and the run says so.
TC=+nightly
if ! rustup toolchain list | grep -q '^nightly'; then
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz: no nightly toolchain here; using the stable compiler with RUSTC_BOOTSTRAP=1"
    TC=
    export RUSTC_BOOTSTRAP=1
  fi
fi
if ! cargo $TC fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

bash make-corpus.sh >/dev/null

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo $TC fuzz list)
fi

cargo $TC fuzz build --sanitizer "$SAN"

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" logs
  log="logs/$t.log"
  echo "=== fuzz $t: ${SECS}s ==="
  set +e
  rc=0
  if compgen -G "regressions/$t/*" >/dev/null; then
    # Earlier findings first: each must now pass.
    cargo $TC fuzz run --sanitizer "$SAN" "$t" regressions/"$t"/* -- \
      -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" >"logs/$t.regressions.log" 2>&1 || {
      rc=$?
      cat "logs/$t.regressions.log" >"$log"
    }
  fi
  if ((rc == 0)); then
    cargo $TC fuzz run --sanitizer "$SAN" "$t" "corpus/$t" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" \
      -max_len="$(max_len "$t")" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -print_final_stats=1 >"$log" 2>&1
    rc=$?
  fi
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -E 'DONE[[:space:]]+cov: ' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  line=$(printf '%-22s rc=%-3s execs=%-10s %s' "$t" "$rc" "${execs:-?}" "${cov:-}")
  summary+=("$line")
  echo "$line"
  if ((rc != 0)); then
    failed+=("$t")
    echo "--- $t FAILED; the end of its log ($log):"
    tail -n 60 "$log"
    ls -la "artifacts/$t" 2>/dev/null || true
  fi
done

echo
echo "=== fuzz summary (${SECS}s per target, sanitizer $SAN) ==="
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz findings in: ${failed[*]}"
  exit 1
fi
echo "no findings"
