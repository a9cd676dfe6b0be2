#!/bin/sh
# Smoke test of examples/mt against the real st driver, inside the VM
# (run.sh --mt copies the mt binary and this script in). Usage: mt-smoke.sh ./mt
MT=${1:-./mt}
T=${TAPE:-/dev/nst0}
passed=0
failed=0

# expect WANT_RC PATTERN ARGS... : run mt, check its exit status and that the
# output contains PATTERN (empty pattern: anything).
expect() {
    want=$1; pattern=$2; shift 2
    out=$("$MT" -f "$T" "$@" 2>&1); rc=$?
    echo "\$ mt $* -> $rc"
    echo "$out" | sed 's/^/    /'
    if [ "$rc" = "$want" ] && { [ -z "$pattern" ] || echo "$out" | grep -q "$pattern"; }; then
        passed=$((passed + 1))
    else
        echo "    FAILED: wanted exit $want and '$pattern'"
        failed=$((failed + 1))
    fi
}

expect 0 "BOT" rewind status
expect 0 "File number=2, block number=0, position=2" rewind weof 2 status
expect 0 "At block 1." rewind fsf 1 tell
expect 0 "At block 2." eod tell
expect 0 "At block 1." bsf 1 tell
expect 2 "beginning of medium" rewind bsf 1
expect 2 "end of data" rewind fsf 3
expect 2 "stopped at a filemark" rewind fsr 1
expect 0 "At block 1." tell
expect 0 "At block 0." seek 1 bsfm 1 rewind tell
expect 0 "Tape block size 512 bytes" setblk 512 status
expect 0 "Tape block size 0 bytes" setblk 0 status
expect 0 "Block limits: 512..=1048576" limits
expect 0 "" compression 1 compression 0
expect 0 "DR_OPEN" offline status
expect 0 "BOT ONLINE" load status
expect 0 "At block 0." rewind erase eod tell
expect 1 "unknown command" frobnicate

echo "mt smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
