//! Short reads: a pipe or a socket hands out whatever it has, not what was asked. The reader and
//! the codec walk must find the same blocks, streams, data and damage whatever the read sizes:
//! here every read returns a random size between 1 byte and twice the medium's soft filemark
//! block size, and the events are compared with those of a plain read of the same file.
//!
//! Runs per medium: `MTF_SHORT_READ_RUNS` (default 20; each run uses another seed).

mod common;

use mtf::reader::{Event, FileSource, Reader, StreamSource};
use mtf::walk::Walker;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A reader that returns between 1 and `max` bytes per call, chosen by a xorshift generator.
struct ShortReads<R> {
    inner: R,
    state: u64,
    max: usize,
}

impl<R: Read> Read for ShortReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let n = 1 + (self.state % self.max as u64) as usize;
        let n = n.min(buf.len());
        self.inner.read(&mut buf[..n])
    }
}

/// Every event in order, with each stream's data summarised (length and a checksum).
fn events<S: mtf::reader::BlockSource>(mut r: Reader<S>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let ev = match r.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                out.push(format!("error {e}"));
                break;
            }
        };
        match ev {
            Event::Block { offset, dblk } => out.push(format!("{offset} {}", dblk.block_type())),
            Event::Stream { offset, header } => {
                let mut len = 0u64;
                let mut sum = 0u64;
                while let Some(chunk) = r.read_data().unwrap() {
                    len += chunk.len() as u64;
                    sum = chunk
                        .iter()
                        .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(b as u64));
                }
                out.push(format!("{offset} {} {len} {sum:x}", header.id));
            }
            Event::Damage(d) => out.push(format!("damage {} {} {}", d.offset, d.len, d.reason)),
            other => out.push(format!("{other:?}")),
        }
    }
    out
}

fn media() -> Vec<PathBuf> {
    let mut v = common::own_images()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bkf"))
        .collect::<Vec<_>>();
    // A few foreign media of each producer; the rest add time, not cases.
    for name in [
        "sql2005_multiset_stdb2sql.bak",
        "sql2008r2_log_checksum_cubequery.trn",
        "ntbackup/ntbackup_2003_bootini.bkf",
    ] {
        if let Some(p) = common::foreign(name) {
            v.push(p);
        }
    }
    v
}

fn runs() -> u64 {
    std::env::var("MTF_SHORT_READ_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// The block size reads are drawn against: the soft filemark block size from the TAPE block.
fn block_size(path: &Path) -> usize {
    let mut r = Reader::new(FileSource::open(path).unwrap());
    let _ = r.next_event();
    r.params().soft_filemark_len.unwrap_or(1024)
}

#[test]
fn the_reader_sees_the_same_medium_whatever_the_read_sizes() {
    for path in media() {
        let whole = events(Reader::new(FileSource::open(&path).unwrap()));
        assert!(whole.len() > 3, "{}: {whole:?}", path.display());
        let max = 2 * block_size(&path);
        for seed in 1..=runs() {
            let src = ShortReads {
                inner: std::fs::File::open(&path).unwrap(),
                state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                max,
            };
            let short = events(Reader::new(StreamSource::new(src)));
            assert_eq!(whole, short, "{}: seed {seed}", path.display());
        }
    }
}

#[test]
fn the_walk_gives_back_every_byte_whatever_the_read_sizes() {
    for path in media() {
        let original = std::fs::read(&path).unwrap();
        let max = 2 * block_size(&path);
        for seed in 1..=runs() {
            let src = ShortReads {
                inner: &original[..],
                state: seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1,
                max,
            };
            let mut out = Vec::with_capacity(original.len());
            for ev in Walker::new(src) {
                let ev = ev.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(
                    !matches!(ev, mtf::walk::Event::Gap { .. }),
                    "{}: seed {seed}: damage reported at {}",
                    path.display(),
                    ev.offset()
                );
                ev.write_raw(&mut out).unwrap();
            }
            assert!(out == original, "{}: seed {seed}", path.display());
        }
    }
}
