//! Media the dumper tests share: a set written over several tiny media by `mtf::writer`, and
//! a writer with one volume open.
#![allow(dead_code)]

use mtf::date::DateTime;
use mtf::writer::*;

pub fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

pub fn content(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

/// A medium of 160 KiB times `scale`.
pub fn small_medium(scale: usize) -> MemorySink {
    MemorySink {
        capacity: Some(160 * 1024 * scale as u64),
        early_warning_zone: 40 * 1024 * scale as u64,
        ..Default::default()
    }
}

pub const FILES: [(&str, usize); 3] = [("before", 1000), ("huge", 300_000), ("after", 5000)];

/// Writes the set over as many media as it takes; returns each medium's bytes.
pub fn spanned_media() -> Vec<Vec<u8>> {
    spanned_media_with(false, 1)
}

/// The same, with a CSUM stream after each file's data when `checksums`, media and the huge
/// file `scale` times larger.
pub fn spanned_media_with(checksums: bool, scale: usize) -> Vec<Vec<u8>> {
    let mut opts = MediumOptions::new("span", 77, date(0));
    opts.block_size = Some(8 * 1024);
    let blank = small_medium(scale);
    let mut w = Writer::with_media(blank.clone(), opts, MemoryMedia::like(blank)).unwrap();
    let mut so = SetOptions::new("spanning", date(5));
    so.checksums = checksums;
    w.begin_set(so).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    w.add_directory(&["dir"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    for (i, (name, size)) in FILES.iter().enumerate() {
        let size = if *name == "huge" { size * scale } else { *size };
        let data = content(size, i);
        let meta = EntryMeta::with_dates(Some(date(2)), date(5));
        w.add_file(name, &meta, data.len() as u64, &mut &data[..])
            .unwrap();
    }
    w.end_set().unwrap();
    let (last, media) = w.into_parts().unwrap();
    let mut all: Vec<Vec<u8>> = media.done.into_iter().map(|m| m.data).collect();
    all.push(last.data);
    all
}

/// A writer on a medium in memory with `block_size` blocks, a set begun (with CSUM streams when
/// `checksums`) and volume `C:` added.
pub fn one_volume(block_size: usize, checksums: bool) -> Writer<MemorySink> {
    let mut mo = MediumOptions::new("t", 5, date(0));
    mo.block_size = Some(block_size);
    let mut w = Writer::new(MemorySink::default(), mo).unwrap();
    let mut so = SetOptions::new("t", date(5));
    so.checksums = checksums;
    w.begin_set(so).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    w
}

/// Runs a tool; its exit code and everything it printed (stdout then stderr).
pub fn run(mut c: std::process::Command) -> (i32, String) {
    let o = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// A small source tree under `root`: `src/d/a.txt` ("alpha") and `src/b.txt` ("bravo").
pub fn tree(root: &std::path::Path) -> std::path::PathBuf {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/a.txt"), b"alpha").unwrap();
    std::fs::write(src.join("b.txt"), b"bravo").unwrap();
    src
}
