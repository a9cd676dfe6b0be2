//! Byte-exact round trip of every real sample: walk block by block and stream by stream, write
//! every piece back, and compare digests.

mod common;

use mtf::walk::{Event, Walker};
use mtf::Error;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::BufReader;

#[test]
fn every_tape_sample_round_trips_byte_exactly() {
    let mut total_blocks: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_streams: BTreeMap<String, usize> = BTreeMap::new();
    let mut tape_files = 0;
    // SQL Server media carry one RAID stream each; NTBackup's none.
    let mut sql_server_files = 0;
    for path in common::foreign_samples() {
        let original = std::fs::read(&path).unwrap();
        if !original.starts_with(b"TAPE") {
            continue;
        }
        tape_files += 1;
        if path.extension().is_some_and(|e| e == "bak" || e == "trn") {
            sql_server_files += 1;
        }
        let mut out = Vec::with_capacity(original.len());
        let mut blocks: BTreeMap<String, usize> = BTreeMap::new();
        let mut streams: BTreeMap<String, usize> = BTreeMap::new();
        let f = std::fs::File::open(&path).unwrap();
        for ev in Walker::with_mode(BufReader::new(f), mtf::walk::Mode::Strict) {
            let ev = ev.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                ev.offset(),
                out.len() as u64,
                "{}: events must be contiguous",
                path.display()
            );
            match &ev {
                Event::Block { dblk, .. } => {
                    *blocks.entry(dblk.block_type().to_string()).or_default() += 1
                }
                Event::Stream { header, .. } => {
                    *streams.entry(header.id.to_string()).or_default() += 1
                }
                Event::Gap { offset, reason, .. } => {
                    panic!("{}: gap at {offset}: {reason:?}", path.display())
                }
                _ => {}
            }
            ev.write_raw(&mut out).unwrap();
        }
        assert_eq!(
            Sha256::digest(&out),
            Sha256::digest(&original),
            "{}: round trip differs (first at {:?})",
            path.display(),
            out.iter().zip(&original).position(|(a, b)| a != b)
        );
        println!(
            "{}: {} bytes, blocks {:?}, streams {:?}",
            path.file_name().unwrap().to_string_lossy(),
            original.len(),
            blocks,
            streams
        );
        for (k, v) in blocks {
            *total_blocks.entry(k).or_default() += v;
        }
        for (k, v) in streams {
            *total_streams.entry(k).or_default() += v;
        }
    }
    if tape_files > 0 {
        println!(
            "round-tripped {tape_files} files: blocks {total_blocks:?}; streams {total_streams:?}"
        );
        assert!(total_blocks["SFMB"] >= 3 * tape_files);
        assert!(total_streams["SPAD"] > 0 && total_streams["RAID"] == sql_server_files);
        assert!(
            tape_files > sql_server_files,
            "the NTBackup media are among the samples"
        );
    }
}

#[test]
fn compressed_container_is_refused_clearly() {
    let mut seen = 0;
    for path in common::foreign_samples() {
        let head = std::fs::read(&path).unwrap();
        if !head.starts_with(b"MSSQLBAK") {
            continue;
        }
        seen += 1;
        let mut w = Walker::new(&head[..]);
        let err = w.next().unwrap().unwrap_err();
        assert!(matches!(err, Error::SqlServerCompressed), "{err}");
        assert_eq!(err.to_string(), "not MTF: SQL Server compressed container (MSSQLBAK); the payload is compressed and not decoded");
        assert!(w.next().is_none());
    }
    if common::foreign_dir().is_some() {
        assert!(seen >= 1);
    }
}
