#!/bin/bash
# tape-sys/tests/vm/run.sh - run tape-sys's conformance suite against the REAL
# Linux SCSI tape driver (st), inside a throw-away qemu VM whose tape drive is
# emulated by scsi_debug (ptype=1, Linux >= 6.15).
#
# Usage (as root, from anywhere; works on a fresh Debian 12 machine):
#   tape-sys/tests/vm/run.sh                   build the `st` test binary and run it in the VM
#   tape-sys/tests/vm/run.sh --mt              ... and also smoke-test examples/mt on /dev/nst0
#   tape-sys/tests/vm/run.sh --bin FILE [ARGS] run FILE (any x86_64 binary) instead of building
#   tape-sys/tests/vm/run.sh --shell-cmd 'mt -f /dev/nst0 rewind'   busybox shell command
#   tape-sys/tests/vm/run.sh --setup-only      apt + kernel download/extraction only (cache warm-up)
#   Extra arguments after `--` go to the test binary (e.g. a test-name filter).
#
# Environment:
#   TAPE_VM_WORK=DIR       cache dir (default /var/cache/tape-sys-vm)
#   TAPE_VM_SUITE=SUITE    Debian suite for the kernel (default trixie-backports)
#   TAPE_VM_FLAVOUR=F      kernel flavour (default cloud-amd64: 36 MB, has st + scsi_debug)
#   TAPE_VM_SCSI_DEBUG='..' scsi_debug params (default 'ptype=1 delay=0 dev_size_mb=1')
#   TAPE_VM_TIMEOUT=SEC    wall-clock limit for the VM (default 300)
#   TAPE_VM_MEM=MB         guest RAM (default 512)
#   TAPE_VM_ACCEL=auto|kvm|tcg (default auto: KVM only if it can really boot this guest)
#   TAPE_VM_DMESG=1        print the guest's dmesg after the run
#   CONFORMANCE_FILTER=S   run only the conformance cases whose name contains S
#   CARGO                  cargo to use (default: cargo on PATH, else ~/.cargo/bin/cargo)
#
# Exit status: that of the program run in the VM (0 = suite passed); 124 if
# the VM timed out, 125 if it died without an exit marker, 126 for setup errors.
#
# Inside the VM: /dev/nst0 and /dev/st0 (and the l/m/a mode nodes) exist, the
# cwd is /test, TAPE=/dev/nst0, HOME=/tmp, busybox is on PATH. Every boot
# starts with a blank emulated tape that lives in guest RAM only.
#
# Adapted from shared/tools/st-vm/run-st-vm.sh; the project owns this copy.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
WORK=${TAPE_VM_WORK:-/var/cache/tape-sys-vm}
SUITE=${TAPE_VM_SUITE:-trixie-backports}
FLAVOUR=${TAPE_VM_FLAVOUR:-cloud-amd64}
SDEBUG_PARAMS=${TAPE_VM_SCSI_DEBUG:-ptype=1 delay=0 dev_size_mb=1}
TIMEOUT=${TAPE_VM_TIMEOUT:-300}
MEM=${TAPE_VM_MEM:-512}
DMESG=${TAPE_VM_DMESG:-0}
SETUP_ONLY=0
WITH_MT=0
SHELL_CMD=
BIN=

while [ $# -gt 0 ]; do
    case "$1" in
        --setup-only) SETUP_ONLY=1; shift ;;
        --mt) WITH_MT=1; shift ;;
        --dmesg) DMESG=1; shift ;;
        --bin) BIN=$2; shift 2 ;;
        --shell-cmd) SHELL_CMD=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        --) shift; break ;;
        *) echo "unknown option $1 (test arguments go after --)" >&2; exit 126 ;;
    esac
done

log() { printf '[tape-vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
T_START=$(date +%s.%N)
phase_t=$T_START
phase_done() {
    local t; t=$(date +%s.%N)
    log "phase '$1' took $(awk "BEGIN{printf \"%.1f\", $t - $phase_t}")s"
    phase_t=$t
}

[ "$(id -u)" = 0 ] || { echo "must run as root (it uses apt-get)" >&2; exit 126; }
mkdir -p "$WORK"
export DEBIAN_FRONTEND=noninteractive

# ------------------------------------------------------------ phase 1: apt
archive_host() {
    local h
    h=$( (grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) \
        | grep -v security | head -1 | tr -d ' ')
    echo "${h:-http://deb.debian.org/debian}"
}
SRC=/etc/apt/sources.list.d/tape-vm-$SUITE.sources
if [ ! -f "$SRC" ] && ! grep -rqsE "^[^#]*\b$SUITE\b" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    HOST=$(archive_host)
    # trixie/sid signing keys are in debian-archive-keyring >= 2023.3+deb12u2
    if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' debian-archive-keyring 2>/dev/null || echo 0)" ge 2023.3+deb12u2; then
        log "upgrading debian-archive-keyring"
        apt-get update -qq && apt-get install -y -qq debian-archive-keyring >/dev/null
    fi
    log "adding $SUITE from $HOST (pinned to 50: only used for the kernel download)"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$HOST" "$SUITE" > "$SRC"
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 50\n' "$SUITE" > "/etc/apt/preferences.d/tape-vm-$SUITE"
    rm -f "$WORK/.apt-updated"
fi
# bookworm-backports: the fallback for qemu when qemu-utils from there is already installed
BPO=/etc/apt/sources.list.d/tape-vm-bookworm-backports.sources
if grep -q bookworm /etc/os-release && [ ! -f "$BPO" ] && \
   ! grep -rqsE '^[^#]*\bbookworm-backports\b' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$(archive_host)" > "$BPO"
    rm -f "$WORK/.apt-updated"
fi
if [ ! -f "$WORK/.apt-updated" ]; then
    log "apt-get update"
    apt-get update -qq
    touch "$WORK/.apt-updated"
fi
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
command -v modinfo >/dev/null || need+=(kmod)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
        log "retrying with -t bookworm-backports"
        apt-get install -y -qq --no-install-recommends -t bookworm-backports "${need[@]}" >/dev/null 2>&1 || {
            echo "apt-get install ${need[*]} failed" >&2; exit 126; }
    fi
fi
phase_done apt

# ------------------------------------------------------- phase 2: kernel debs
META=linux-image-$FLAVOUR
KPKG=$(apt-cache show --no-all-versions "$META/$SUITE" 2>/dev/null | sed -n 's/^Depends: //p' \
    | grep -oE 'linux-image-[0-9][^ ,]*' | head -1 || true)
if [ -z "$KPKG" ]; then
    # The package lists may be stale (cache dir kept, lists cleaned): refresh once.
    apt-get update -qq
    KPKG=$(apt-cache show --no-all-versions "$META/$SUITE" | sed -n 's/^Depends: //p' \
        | grep -oE 'linux-image-[0-9][^ ,]*' | head -1 || true)
fi
[ -n "$KPKG" ] || { echo "cannot resolve $META in $SUITE" >&2; exit 126; }
KVER=${KPKG#linux-image-}
KDIR=$WORK/kernel-$KVER
if [ ! -f "$KDIR/.extracted" ]; then
    rm -rf "$KDIR"
    mkdir -p "$KDIR/debs" "$KDIR/root"
    pkgs=("$KPKG/$SUITE")
    # since 7.x Debian splits the image into -binary (vmlinuz) and -modules
    for p in "linux-binary-$KVER" "linux-modules-$KVER"; do
        apt-cache show "$p/$SUITE" >/dev/null 2>&1 && pkgs+=("$p/$SUITE")
    done
    log "downloading ${pkgs[*]}"
    (cd "$KDIR/debs" && apt-get download -q "${pkgs[@]}" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
    ls "$KDIR"/debs/*.deb >/dev/null 2>&1 || { echo "kernel download failed" >&2; exit 126; }
    phase_done download
    for d in "$KDIR"/debs/*.deb; do dpkg-deb -x "$d" "$KDIR/root"; done
    rm -rf "$KDIR/debs"
    touch "$KDIR/.extracted"
    phase_done extract
else
    log "using cached kernel $KVER"
fi
VMLINUZ=$(find "$KDIR/root" -name 'vmlinuz*' -type f | head -1)
MODROOT=$(find "$KDIR/root" -maxdepth 4 -type d -path '*/lib/modules/*' -name "$KVER" | head -1)
[ -n "$VMLINUZ" ] && [ -n "$MODROOT" ] || { echo "kernel/modules not found in $KDIR/root" >&2; exit 126; }

# -------------------------------------------- phase 3: modules (dependency order)
MODDIR=$KDIR/mods
if [ ! -f "$MODDIR/order" ]; then
    mkdir -p "$MODDIR"
    declare -A seen=()
    order=()
    modpath() { find "$MODROOT" -name "$1.ko*" | head -1; }
    add_mod() {
        local n=$1 f deps d
        [ -n "${seen[$n]:-}" ] && return
        seen[$n]=1
        f=$(modpath "$n"); [ -n "$f" ] || f=$(modpath "${n//_/-}")
        [ -n "$f" ] || { echo "module $n not found" >&2; exit 126; }
        deps=$(modinfo -F depends "$f" | tr ',' ' ')
        for d in $deps; do add_mod "${d//-/_}"; done
        case "$f" in
            *.ko.xz) xz -dc "$f" > "$MODDIR/$n.ko" ;;
            *.ko.zst) zstd -qdc "$f" > "$MODDIR/$n.ko" ;;
            *.ko.gz) gzip -dc "$f" > "$MODDIR/$n.ko" ;;
            *) cp "$f" "$MODDIR/$n.ko" ;;
        esac
        order+=("$n")
    }
    for m in st scsi_debug sg; do add_mod "$m"; done
    printf '%s\n' "${order[@]}" > "$MODDIR/order.tmp"
    mv "$MODDIR/order.tmp" "$MODDIR/order"
fi
phase_done modules
[ "$SETUP_ONLY" = 1 ] && { log "setup done: kernel $KVER"; exit 0; }

# ------------------------------------------------- phase 4: build the tests
find_cargo() {
    if [ -n "${CARGO:-}" ]; then echo "$CARGO"; return; fi
    if command -v cargo >/dev/null; then command -v cargo; return; fi
    for c in "$HOME/.cargo/bin/cargo" /root/.cargo/bin/cargo /usr/local/cargo/bin/cargo; do
        [ -x "$c" ] && { echo "$c"; return; }
    done
    echo "cargo not found (set CARGO)" >&2; exit 126
}
# cargo prints one JSON object per artifact; take the executable of target NAME.
artifact() { # name kind
    grep '"reason":"compiler-artifact"' | grep "\"name\":\"$1\"" | grep "\"kind\":\[\"$2\"\]" \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
MT_BIN=
if [ -z "$SHELL_CMD" ] && [ -z "$BIN" ]; then
    CARGO_BIN=$(find_cargo)
    log "building the st conformance test binary"
    BIN=$(cd "$REPO" && "$CARGO_BIN" test -p tape-sys --test st --no-run --message-format=json 2>/dev/null | artifact st test)
    [ -n "$BIN" ] && [ -x "$BIN" ] || {
        (cd "$REPO" && "$CARGO_BIN" test -p tape-sys --test st --no-run) >&2 || true
        echo "could not build the st test binary" >&2; exit 126; }
    log "test binary: $BIN"
    if [ "$WITH_MT" = 1 ]; then
        MT_BIN=$(cd "$REPO" && "$CARGO_BIN" build -p mtf-examples --bin mt --message-format=json 2>/dev/null | artifact mt bin)
        [ -n "$MT_BIN" ] && [ -x "$MT_BIN" ] || { echo "could not build examples/mt" >&2; exit 126; }
        log "mt binary: $MT_BIN"
    fi
    phase_done build
fi

# ------------------------------------------------------ phase 5: initramfs
RUN=$(mktemp -d "$WORK/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
IR=$RUN/root
mkdir -p "$IR"/{bin,sbin,dev,proc,sys,tmp,test,modules,etc,lib,lib64,usr/bin}
cp /bin/busybox "$IR/bin/busybox"
cp "$MODDIR"/*.ko "$MODDIR/order" "$IR/modules/"

copy_exe() { # path -> copies it to /test and its loader + libraries to their paths
    local exe=$1 ldd_out lib
    [ -x "$exe" ] || { echo "not executable: $exe" >&2; exit 126; }
    cp "$exe" "$IR/test/"
    ldd_out=$(ldd "$exe" 2>&1 || true)
    if printf '%s\n' "$ldd_out" | grep -qE '=>|ld-linux'; then
        for lib in $(printf '%s\n' "$ldd_out" | grep -oE '/[^ ]+'); do
            mkdir -p "$IR$(dirname "$lib")"; cp -L "$lib" "$IR$lib"
        done
    fi
}
{
    echo '#!/bin/sh'
    if [ -n "$SHELL_CMD" ]; then
        printf '%s\n' "$SHELL_CMD"
    else
        copy_exe "$BIN"
        # Pass the suite's own knobs through to the guest.
        for v in CONFORMANCE_FILTER TAPE_FILL_LIMIT TAPE_FULL_CONTENT; do
            [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
        done
        # One drive: the suite runs its cases in sequence anyway; one thread keeps the output tidy.
        printf './%q --test-threads=1 --nocapture --include-ignored' "$(basename "$BIN")"
        for a in "$@"; do printf ' %q' "$a"; done
        echo
        echo 'rc=$?'
        if [ -n "$MT_BIN" ]; then
            copy_exe "$MT_BIN"
            cp "$HERE/mt-smoke.sh" "$IR/test/mt-smoke.sh"
            echo 'sh ./mt-smoke.sh ./mt || rc=1'
        fi
        echo 'exit $rc'
    fi
} > "$IR/test/run.sh"
chmod +x "$IR/test/run.sh"
printf 'SDEBUG_PARAMS=%q\nDMESG=%q\n' "$SDEBUG_PARAMS" "$DMESG" > "$IR/etc/tape-vm.conf"

cat > "$IR/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
if grep -q tape_vm_probe /proc/cmdline; then echo "TAPE-VM-PROBE-OK"; poweroff -f; fi
. /etc/tape-vm.conf
for m in $(cat /modules/order); do
    p=
    [ "$m" = scsi_debug ] && p=$SDEBUG_PARAMS
    insmod /modules/$m.ko $p || echo "TAPE-VM: insmod $m failed"
done
i=0
while [ ! -e /dev/nst0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/nst0 ] || { echo "TAPE-VM: /dev/nst0 did not appear"; ls /dev; dmesg | tail -30; }
echo "TAPE-VM: kernel $(uname -r), tape nodes: $(ls /dev | grep -E '^n?st0' | tr '\n' ' ')"
echo "TAPE-VM-BEGIN"
cd /test
TAPE=/dev/nst0 HOME=/tmp ./run.sh
rc=$?
echo "TAPE-VM-EXIT=$rc"
if [ "$DMESG" = 1 ]; then echo "TAPE-VM-DMESG-BEGIN"; dmesg; echo "TAPE-VM-DMESG-END"; fi
sync
poweroff -f
EOF
chmod +x "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1 > "$RUN/initrd.gz")
log "initramfs: $(du -h "$RUN/initrd.gz" | cut -f1)"
phase_done initramfs

# ---------------------------------------------------------------- phase 6: boot
LOG=$WORK/last-run.log
qemu() { # accel args...
    timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 "$@" -m "$MEM" -smp 1 \
        -nodefaults -no-reboot -display none -serial stdio -monitor none \
        -kernel "$VMLINUZ" -initrd "$RUN/initrd.gz" </dev/null 2>&1
}
ACCEL=${TAPE_VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
    ACCEL=tcg
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        # Nested or paravirtual KVM (e.g. kvm-pvm in firecracker) may abort or
        # hang on this guest: probe once per kernel and cache the answer.
        PROBE=$WORK/.kvm-probe-$KVER
        if [ ! -f "$PROBE" ]; then
            if TIMEOUT=30 qemu -enable-kvm -cpu host \
                   -append "console=ttyS0 panic=-1 loglevel=3 quiet tape_vm_probe" \
                   | grep -q TAPE-VM-PROBE-OK; then
                echo kvm > "$PROBE"
            else
                echo tcg > "$PROBE"
            fi
            log "KVM probe: $(cat "$PROBE")"
        fi
        ACCEL=$(cat "$PROBE")
    fi
fi
if [ "$ACCEL" = kvm ]; then accel=(-enable-kvm -cpu host); else accel=(-accel tcg -cpu max); fi
log "booting kernel $KVER ($ACCEL), timeout ${TIMEOUT}s, console log $LOG"
set +e
qemu "${accel[@]}" -append "console=ttyS0 panic=-1 loglevel=3 quiet" | tr -d '\r' | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e
phase_done boot
log "total $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $T_START}")s"
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then log "VM timed out"; exit 124; fi
rc=$(sed -n 's/^TAPE-VM-EXIT=\([0-9]*\)$/\1/p' "$LOG" | tail -1)
[ -n "$rc" ] || { log "no exit marker (qemu rc $qrc)"; exit 125; }
[ "$rc" = 0 ] && log "suite passed in the VM" || log "suite FAILED in the VM (rc $rc)"
exit "$rc"
