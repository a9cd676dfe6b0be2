//! Copies out of files survive signals: a product that links this library may catch signals
//! with handlers installed without `SA_RESTART` (libFuzzer's timer did), and then the kernel
//! copies under `std::io::copy` fail with `EINTR` part way. Here a signal interrupts the
//! copying thread every 20 µs while `mtf::fileio::copy_from_file` and `Reader::copy_data`
//! (which copies a stream's data file to file in the kernel) copy 64 MiB; each copy must be
//! whole and equal.
//!
//! One test in its own binary: the handler is the whole process's.

use mtf::date::DateTime;
use mtf::reader::source::FileSource;
use mtf::reader::{Event, Reader};
use mtf::writer::*;
use mtf::StreamId;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

const LEN: usize = 64 << 20;

#[path = "support/interrupter.rs"]
mod interrupter;
use interrupter::Interrupter;

fn data() -> Vec<u8> {
    (0..LEN).map(|i| (i * 131 + (i >> 13)) as u8).collect()
}

/// A medium with one set holding one file of `data`.
fn medium(path: &Path, data: &[u8]) {
    let date = DateTime::from_unix(1_700_000_000).unwrap();
    let mut w = Writer::new(
        MemorySink::default(),
        MediumOptions::new("signals", 1, date),
    )
    .unwrap();
    w.begin_set(SetOptions::new("signals", date)).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "V".into(),
        machine: "M".into(),
    })
    .unwrap();
    w.add_directory::<&str>(&[], &EntryMeta::with_dates(Some(date), date))
        .unwrap();
    let meta = EntryMeta::with_dates(Some(date), date);
    w.add_file("big", &meta, data.len() as u64, &mut &data[..])
        .unwrap();
    w.end_set().unwrap();
    std::fs::write(path, w.finish().unwrap().data).unwrap();
}

/// `Reader::copy_data` of the medium's one STAN stream into a new file at `to`.
fn copy_stream(medium: &Path, to: &Path) -> u64 {
    let mut r = Reader::new(FileSource::open(medium).unwrap());
    let mut out = File::create(to).unwrap();
    while let Some(ev) = r.next_event().unwrap() {
        if let Event::Stream { header, .. } = ev {
            if header.id == StreamId::STAN {
                return r.copy_data(&mut out).unwrap();
            }
        }
    }
    panic!("no STAN stream on {}", medium.display());
}

#[test]
fn copies_out_of_files_are_whole_while_signals_interrupt_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let want = data();
    let src = dir.join("src");
    std::fs::write(&src, &want).unwrap();
    let tape = dir.join("medium.bkf");
    medium(&tape, &want);
    let dst = dir.join("dst");

    let timer = Interrupter::start();
    // The premise, reported rather than asserted (a kernel may stop interrupting these calls):
    // plain io::copy under the same timer.
    let mut plain_failed = 0;
    for _ in 0..5 {
        let mut s = File::open(&src).unwrap();
        let mut d = File::create(&dst).unwrap();
        if let Err(e) = io::copy(&mut Read::take(&mut s, LEN as u64), &mut d) {
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "{e}");
            plain_failed += 1;
        }
    }
    eprintln!("plain io::copy failed {plain_failed} times in 5 under the timer");

    for round in 0..5 {
        let mut s = File::open(&src).unwrap();
        let mut d = File::create(&dst).unwrap();
        let n = mtf::fileio::copy_from_file(&mut s, LEN as u64 + 10, &mut d).unwrap();
        d.flush().unwrap();
        assert_eq!(
            n, LEN as u64,
            "round {round}: copy_from_file stops at the file's end"
        );
        assert!(
            std::fs::read(&dst).unwrap() == want,
            "round {round}: copy_from_file"
        );

        let n = copy_stream(&tape, &dst);
        assert_eq!(n, LEN as u64, "round {round}: copy_data");
        assert!(
            std::fs::read(&dst).unwrap() == want,
            "round {round}: copy_data"
        );
    }
    drop(timer);
}
