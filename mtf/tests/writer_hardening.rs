//! The writer under misuse and failure: names the extractor would refuse are refused for
//! directories as for files; a source that fails or changes length while read is zero-filled to
//! its declared length, marked with a CFIL and reported, and the set still completes; a media
//! supplier that refuses the next medium makes every later call an error, never a panic; dates
//! outside MTF's range are refused, never stored as "unknown".

use mtf::date::DateTime;
use mtf::spec::BlockType;
use mtf::walk::{Event, Walker};
use mtf::writer::*;
use std::io::{self, Read};

fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

fn writer() -> Writer<MemorySink> {
    let mut mo = MediumOptions::new("t", 1, date(0));
    mo.block_size = Some(4096);
    let mut w = Writer::new(MemorySink::default(), mo).unwrap();
    w.begin_set(SetOptions::new("s", date(1))).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "V".into(),
        machine: "M".into(),
    })
    .unwrap();
    w
}

fn meta() -> EntryMeta {
    EntryMeta::with_dates(Some(date(2)), date(1))
}

fn block_types(m: &[u8]) -> Vec<BlockType> {
    Walker::new(m)
        .filter_map(|e| match e.unwrap() {
            Event::Block { dblk, .. } => Some(dblk.block_type()),
            _ => None,
        })
        .collect()
}

#[test]
fn directory_names_follow_the_file_name_rules() {
    for bad in [
        vec![".."],
        vec!["a", ".."],
        vec!["."],
        vec!["C:x"],
        vec!["/abs"],
        vec!["a/b"],
        vec!["a\\b"],
        vec!["a\nb"],
    ] {
        let mut w = writer();
        assert!(
            w.add_directory(&bad, &meta()).is_err(),
            "{bad:?} accepted as a directory"
        );
    }
    for bad in ["..", ".", "C:x", "a\x1bb"] {
        let mut w = writer();
        w.add_directory(&["d"], &meta()).unwrap();
        assert!(
            w.add_file(bad, &meta(), 0, &mut io::empty()).is_err(),
            "{bad:?} accepted as a file name"
        );
    }
}

/// A source that gives `ok` bytes, then fails.
struct Failing {
    ok: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("injected read error"));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(7);
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn a_file_that_fails_or_changes_length_is_marked_and_the_set_completes() {
    let mut w = writer();
    w.add_directory(&["d"], &meta()).unwrap();
    let failed = w
        .add_file("broken", &meta(), 10_000, &mut Failing { ok: 3000 })
        .unwrap();
    assert!(!failed.is_whole());
    assert!(failed.read_error.is_some());
    assert_eq!(failed.bytes_read, 3000);
    let shrunk = w
        .add_file("shrunk", &meta(), 100, &mut &[1u8; 40][..])
        .unwrap();
    assert!(!shrunk.is_whole());
    assert_eq!(shrunk.bytes_read, 40);
    let grew = w
        .add_file("grew", &meta(), 100, &mut &[1u8; 140][..])
        .unwrap();
    assert!(grew.grew && !grew.is_whole());
    let fine = w.add_file("fine", &meta(), 5, &mut &b"hello"[..]).unwrap();
    assert!(fine.is_whole());
    let rec = w.end_set().unwrap();
    assert_eq!(rec.corrupt_files, 3);
    let m = w.finish().unwrap().data;
    let types = block_types(&m);
    assert_eq!(
        types.iter().filter(|t| **t == BlockType::CFIL).count(),
        3,
        "{types:?}"
    );
    assert!(types.contains(&BlockType::ESET));
}

/// Gives no next medium.
struct Refuses;
impl MediaSupplier<MemorySink> for Refuses {
    fn next_medium(&mut self, _: u16) -> io::Result<MemorySink> {
        Err(io::Error::other("no more tapes"))
    }
}

#[test]
fn after_the_supplier_refuses_every_call_is_an_error() {
    let mut mo = MediumOptions::new("t", 1, date(0));
    mo.block_size = Some(4096);
    let blank = MemorySink {
        capacity: Some(64 * 1024),
        early_warning_zone: 16 * 1024,
        ..Default::default()
    };
    let mut w = Writer::with_media(blank, mo, Refuses).unwrap();
    w.begin_set(SetOptions::new("s", date(1))).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "V".into(),
        machine: "M".into(),
    })
    .unwrap();
    w.add_directory(&["d"], &meta()).unwrap();
    let big = vec![0u8; 200 * 1024];
    let e = w
        .add_file("big", &meta(), big.len() as u64, &mut &big[..])
        .unwrap_err();
    assert!(e.to_string().contains("no more tapes"), "{e}");
    assert!(w.add_directory(&["e"], &meta()).is_err());
    assert!(w.end_set().is_err());
    let e = w.finish().unwrap_err();
    assert!(e.to_string().contains("no more tapes"), "{e}");
}

#[test]
fn dates_outside_mtf_range_are_refused() {
    let far = DateTime {
        year: 20_000,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };
    let mo = MediumOptions::new("t", 1, far);
    assert!(Writer::new(MemorySink::default(), mo).is_err());
    let mut w = Writer::new(MemorySink::default(), MediumOptions::new("t", 1, date(0))).unwrap();
    assert!(w.begin_set(SetOptions::new("s", far)).is_err());
}

#[test]
fn options_are_checked_before_any_medium_is_touched() {
    let mut mo = MediumOptions::new("t", 1, date(0));
    mo.block_size = Some(1000);
    assert!(check_options(&mo, &SetOptions::new("s", date(1)), false).is_err());
    let mut mo = MediumOptions::new("t", 1, date(0));
    mo.flb_size = 700;
    assert!(check_options(&mo, &SetOptions::new("s", date(1)), false).is_err());
    let mo = MediumOptions::new("t", 1, date(0));
    let long = "n".repeat(70_000);
    assert!(check_options(&mo, &SetOptions::new(&long, date(1)), false).is_err());
    assert!(check_options(&mo, &SetOptions::new("s", date(1)), true).is_ok());
}
