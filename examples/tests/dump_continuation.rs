//! A backup set that runs over three media, written by `mtf::writer` to files (soft filemarks)
//! with a tiny capacity, read back by the dumper given all three: `verify` passes, `ls` lists each
//! file once, and `extract` restores the file cut twice byte for byte. Given only the first
//! medium, the set is reported as continuing on a medium that was not given.

use mtf::date::DateTime;
use mtf::writer::*;
use mtf_examples::dump::{self, Options, Outcome};
use std::path::PathBuf;

fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

fn content(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

struct Media(Vec<MemorySink>);

fn small_medium() -> MemorySink {
    MemorySink {
        capacity: Some(160 * 1024),
        early_warning_zone: 40 * 1024,
        ..Default::default()
    }
}

impl MediaSupplier<MemorySink> for Media {
    fn next_medium(&mut self, _seq: u16) -> std::io::Result<MemorySink> {
        Ok(small_medium())
    }
    fn medium_done(&mut self, _seq: u16, sink: MemorySink) -> std::io::Result<()> {
        self.0.push(sink);
        Ok(())
    }
}

const FILES: [(&str, usize); 3] = [("before", 1000), ("huge", 300_000), ("after", 5000)];

/// Writes the set over as many media as it takes; returns each medium's bytes.
fn spanned_media() -> Vec<Vec<u8>> {
    let mut opts = MediumOptions::new("span", 77, date(0));
    opts.block_size = Some(8 * 1024);
    let mut w = Writer::with_media(small_medium(), opts, Media(Vec::new())).unwrap();
    w.begin_set(SetOptions::new("spanning", date(5))).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    w.add_directory(&["dir"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    for (i, (name, size)) in FILES.iter().enumerate() {
        let data = content(*size, i);
        let meta = EntryMeta::with_dates(Some(date(2)), date(5));
        w.add_file(name, &meta, data.len() as u64, &mut &data[..])
            .unwrap();
    }
    w.end_set().unwrap();
    let (last, media) = w.into_parts().unwrap();
    let mut all: Vec<Vec<u8>> = media.0.into_iter().map(|m| m.data).collect();
    all.push(last.data);
    all
}

fn opts() -> Options {
    Options {
        json: false,
        strict: false,
        progress: false,
    }
}

#[test]
fn a_set_over_three_media_verifies_lists_and_extracts_whole() {
    let media = spanned_media();
    assert_eq!(
        media.len(),
        3,
        "the capacity should force exactly three media"
    );
    let tmp = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = tmp.path().join(format!("span{}.bkf", i + 1));
            std::fs::write(&p, m).unwrap();
            p
        })
        .collect();
    // Given out of order, the media are still read in sequence.
    let shuffled = vec![paths[2].clone(), paths[0].clone(), paths[1].clone()];

    let mut out = Vec::new();
    dump::ls::run(&shuffled, Some(1), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    for (name, size) in FILES {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name} listed once:\n{text}");
        assert!(lines[0].contains(&size.to_string()), "{name} size:\n{text}");
    }

    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut out = Vec::new();
    let verdict = dump::extract::run(&shuffled, 1, &dir, &[], &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Ok, "{text}");
    let restored: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(restored.len(), FILES.len(), "{restored:?}\n{text}");
    for (i, (name, size)) in FILES.iter().enumerate() {
        let p = restored
            .iter()
            .find(|p| p.file_name().unwrap() == *name)
            .unwrap_or_else(|| panic!("{name} restored: {restored:?}"));
        let got = std::fs::read(p).unwrap();
        assert_eq!(got.len(), *size, "{name}");
        assert!(got == content(*size, i), "{name}: content differs");
    }
    let mut out = Vec::new();
    let verdict = dump::verify::run(&shuffled, &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    assert_eq!(verdict, Outcome::Ok, "{text}");
}

#[test]
fn the_first_medium_alone_says_the_set_continues() {
    let media = spanned_media();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("span1.bkf");
    std::fs::write(&p, &media[0]).unwrap();
    let mut out = Vec::new();
    let verdict = dump::verify::run(std::slice::from_ref(&p), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_ne!(
        verdict,
        Outcome::Ok,
        "an incomplete set must not verify:\n{text}"
    );
    let mut out = Vec::new();
    dump::sets::run(std::slice::from_ref(&p), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.to_lowercase().contains("contin"), "{text}");
}
