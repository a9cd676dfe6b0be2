#!/usr/bin/env bash
# Rebuilds the committed sample media from a generated source tree, byte for byte:
# every input (file contents, names, mtimes, dates, family ids, machine name) is fixed here.
#   bash testdata/make-images.sh        # rewrites testdata/*.bkf and testdata/*.tap
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p mtf-examples --bin mtfpack
pack=$PWD/target/debug/mtfpack
out=$PWD/testdata
# A fixed place, and relative paths below, so no temporary name ends up in the images.
src=$PWD/target/testdata-src
rm -rf "$src"

# A small tree: nested directories, an empty file, Unicode names, a file larger than a block.
mkdir -p "$src/docs/reports/2026" "$src/photos" "$src/empty-dir" "$src/日本語"
printf 'Hello, tape.\n' > "$src/docs/readme.txt"
printf 'quarterly numbers\n%.0s' $(seq 1 200) > "$src/docs/reports/2026/q3.csv"
: > "$src/docs/empty.txt"
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 37 + 11) % 256 for i in range(100000)))' > "$src/photos/image.raw"
printf 'grüße\n' > "$src/日本語/ファイル.txt"
find "$src" -exec touch -h -d '2026-01-02 03:04:05 UTC' {} +
# Access times: reading the tree (mtfpack does) would set them to the time of the run (relatime
# updates an access time older than the change time), and the images record them. One in the
# future is left alone, so the images do not depend on when they were made.
find "$src" -exec touch -h -a -d '2099-01-01 00:00:00 UTC' {} +

cd "$src"
export USER=operator   # recorded as the sets' user name
common=(--machine EXAMPLE-HOST --block-size 4096 --flb 1024)
# small.bkf: one set, then a second appended with checksums.
$pack docs photos -o "$out/small.bkf" "${common[@]}" \
  --media-name "Sample media" --name "Full backup" --description "docs and photos" \
  --family-id 0x0A0B0C0D --date 2026-01-02T10:00:00
$pack . -o "$out/small.bkf" --append "${common[@]}" \
  --name "Everything" --description "appended set, with CSUM streams" --csum --date 2026-01-03T10:00:00
# small.tap: the same first set on an emulated tape (SIMH .tap: hardware filemarks).
rm -f "$out/small.tap"
$pack docs photos -o "$out/small.tap" "${common[@]}" \
  --media-name "Sample tape" --name "Full backup" --family-id 0x0A0B0C0E --date 2026-01-02T10:00:00
ls -l "$out"/*.bkf "$out"/*.tap
