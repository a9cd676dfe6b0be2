#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets in fuzz/corpus/<target>/ (generated, never
# committed: corpus/ is gitignored). Seeds come from testdata/ (media made by this project) and
# from small cuts of the foreign samples in ../shared/testdata/foreign (override with
# MTF_FOREIGN_DIR): their first and last few KiB, single blocks cut at block headers, and single
# catalog and RAID stream payloads. The foreign files themselves are never copied whole unless
# they are small. Needs only bash, coreutils and grep.
set -eu  # no pipefail: seeds are cut with head, which closes pipes early
cd "$(dirname "$0")"
FUZZ=$PWD
ROOT=$(cd .. && pwd)
TESTDATA=$ROOT/testdata
FOREIGN=${MTF_FOREIGN_DIR:-../shared/testdata/foreign}
[[ $FOREIGN = /* ]] || FOREIGN=$ROOT/$FOREIGN
CORPUS=$FUZZ/corpus
MAX=65536 # no seed is larger than the targets' -max_len

TARGETS=(block_parse stream_payloads walk_chunked write_read_roundtrip tap_image media_catalog
         reader_events reader_listing dump_commands extract_hostile structured_codec)
for t in "${TARGETS[@]}"; do mkdir -p "$CORPUS/$t"; done

# seed TARGET NAME < bytes
seed() { head -c "$MAX" > "$CORPUS/$1/$2"; }

# cut FILE OFFSET LEN: LEN bytes of FILE from OFFSET.
cut_at() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=64K status=none; }

# Offsets of every 4-character block or stream id in FILE (one per line).
ids_at() {
  LC_ALL=C grep -obUa -e TAPE -e SSET -e VOLB -e DIRB -e FILE -e CFIL -e ESPB -e ESET -e EOTM \
    -e SFMB -e MSCI -e MSDA -e MSTL -e MSLS -e "$2" "$1" 2>/dev/null | cut -d: -f1 || true
}

# u64le FILE OFFSET: the little-endian u64 at OFFSET.
u64le() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }

# tapify SIZE < bytes > .tap image: the bytes as SIMH records of SIZE bytes, a filemark, EOM.
tapify() {
  local size=$1 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  local len total off=0
  total=$(stat -c %s "$tmp")
  while ((off < total)); do
    len=$((total - off < size ? total - off : size))
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((len & 255)) $((len >> 8 & 255)) $((len >> 16 & 255)) 0)" > "$tmp.w"
    cat "$tmp.w"; cut_at "$tmp" "$off" "$len"; ((len % 2)) && printf '\x00'; cat "$tmp.w"
    off=$((off + len))
  done
  printf '\x00\x00\x00\x00\xff\xff\xff\xff'
  rm -f "$tmp" "$tmp.w"
}

# media NAME < bytes: a seed for every target that takes a whole medium. The walker's seed gets
# a control byte first (resync, bytes 1..3 at a time; strict, 61-byte steps).
media() {
  local name=$1 tmp
  tmp=$(mktemp)
  head -c "$MAX" > "$tmp"
  for t in block_parse media_catalog reader_listing dump_commands; do seed "$t" "$name" < "$tmp"; done
  { printf '\x03\x01\x02\x03'; cat "$tmp"; } | seed walk_chunked "$name"
  { printf '\x92\x05\x09'; cat "$tmp"; } | seed walk_chunked "$name.strict"
  { printf '\x03\x01\x02\x03'; cat "$tmp"; } | seed reader_events "$name"
  rm -f "$tmp"
}

# block_seeds FILE: single blocks, 1 KiB (and 4 KiB for the payload target) from every block
# header on a 512-byte boundary, a few per block type; and single stream payloads of the catalog,
# RAID and checksum streams (header at the id, data 22 bytes on).
block_seeds() {
  local f=$1 b off id k len
  b=$(basename "$f")
  declare -A per_type=()
  while read -r off; do
    [[ -n $off ]] || continue
    ((off % 512 == 0)) || continue
    id=$(cut_at "$f" "$off" 4)
    [[ $id =~ ^[A-Z]{4}$ ]] || continue
    k=${per_type[$id]:-0}
    ((k < 3)) || continue
    per_type[$id]=$((k + 1))
    cut_at "$f" "$off" 1024 | seed block_parse "$b.$id.$off"
    cut_at "$f" "$off" 4096 | seed stream_payloads "$b.$id.$off"
  done < <(ids_at "$f" TSMP)
  unset per_type
  # Stream payloads: catalog, RAID and checksum streams (header at the id, data 22 bytes on).
  while read -r off; do
    [[ -n $off ]] || continue
    ((off % 4 == 0)) || continue
    id=$(cut_at "$f" "$off" 4)
    len=$(u64le "$f" $((off + 8)))
    [[ $len =~ ^[0-9]+$ ]] && ((len > 0 && len <= MAX)) || continue
    cut_at "$f" $((off + 22)) "$len" | seed stream_payloads "$b.$id.$off.data"
    cut_at "$f" "$off" $((len + 22)) | seed block_parse "$b.$id.$off.stream"
  done < <(LC_ALL=C grep -obUa -e TSMP -e TFDD -e MAP2 -e FDD2 -e RAID -e CSUM "$f" 2>/dev/null | cut -d: -f1 | head -40 || true)
}

n=0
# This project's own media.
for f in "$TESTDATA"/*.bkf; do
  [[ -e $f ]] || continue
  b=$(basename "$f")
  media "$b" < "$f"
  cut_at "$f" 0 4096 | media "$b.head4k"
  tail -c 16384 "$f" | media "$b.tail16k"
  head -c 32768 "$f" | tapify 4096 | seed tap_image "$b.tap"
  block_seeds "$f"
  n=$((n + 1))
done
for f in "$TESTDATA"/*.tap; do
  [[ -e $f ]] || continue
  b=$(basename "$f")
  seed tap_image "$b" < "$f"
  head -c 8192 "$f" | seed tap_image "$b.head8k"
  n=$((n + 1))
done

# Synthetic .tap objects: a filemark, EOM, an odd record unpadded, a bad-class record.
printf '\x00\x00\x00\x00' | seed tap_image mark
printf '\xff\xff\xff\xff' | seed tap_image eom
printf '\x03\x00\x00\x00abc\x03\x00\x00\x00\x00\x00\x00\x00' | seed tap_image odd-unpadded
printf '\x02\x00\x00\x80ok\x02\x00\x00\x80' | seed tap_image bad-class

if [[ -d $FOREIGN ]]; then
  for f in "$FOREIGN"/*.bak "$FOREIGN"/*.trn "$FOREIGN"/*.bkf; do
    [[ -e $f ]] || continue
    b=$(basename "$f")
    size=$(stat -c %s "$f")
    if ((size <= MAX)); then media "$b" < "$f"; fi
    cut_at "$f" 0 4096 | media "$b.head4k"
    cut_at "$f" 0 16384 | media "$b.head16k"
    tail -c 4096 "$f" | media "$b.tail4k"
    cut_at "$f" 0 8192 | tapify 1024 | seed tap_image "$b.tap"
    block_seeds "$f"
    n=$((n + 1))
  done
else
  echo "NOTICE: foreign samples not found at $FOREIGN; seeding from testdata only" >&2
fi

for t in "${TARGETS[@]}"; do
  printf '%-22s %5d seeds\n' "$t" "$(find "$CORPUS/$t" -type f | wc -l)"
done
echo "seeded from $n media"
