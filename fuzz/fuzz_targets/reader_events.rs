//! The streaming reader (`mtf::reader::Reader`) over arbitrary media, in both modes, from a
//! seekable source and from a pipe that hands out 1..N bytes per read (sizes from the input),
//! reading some streams' data and skipping the rest (by seek where it can). Both sources must
//! give the same events; every block, stream header and data byte handed out is exactly the
//! medium's bytes at its offset; every error is typed; and the same medium cut into tape
//! records (with filemarks between them) reads without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtf::reader::source::MemoryTape;
use mtf::reader::{BlockSource, Event, Mode, Reader, SeekSource, StreamSource};
use mtf_fuzz::Chunked;
use std::io::Cursor;

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Block(u64, Vec<u8>),
    Stream(u64, Vec<u8>, Option<Vec<u8>>),
    Filemark(u64),
    Cut(u64, u64),
    Damage(u64, u64, String),
    End(Option<String>),
}

/// Reads every event; the data of stream `k` is read when bit `k % 8` of `read_mask` is set.
fn read_all<S: BlockSource>(src: S, mode: Mode, read_mask: u8, medium: &[u8]) -> Vec<Seen> {
    let mut r = Reader::with_mode(src, mode);
    let mut out = Vec::new();
    let mut k = 0usize;
    for _ in 0..100_000 {
        match r.next_event() {
            Ok(Some(Event::Block { offset, dblk })) => {
                let mut v = Vec::new();
                dblk.write_raw(&mut v).expect("a parsed block writes back");
                let at = offset as usize;
                assert_eq!(&medium[at..at + v.len()], &v[..], "block at {at}");
                out.push(Seen::Block(offset, v));
            }
            Ok(Some(Event::Stream { offset, header })) => {
                let mut v = Vec::new();
                header.write_raw(&mut v);
                let at = offset as usize;
                assert_eq!(&medium[at..at + 22], &v[..], "stream header at {at}");
                let data = if read_mask & (1 << (k % 8)) != 0 {
                    match r.read_data_to_vec(1 << 20) {
                        Ok(Some(d)) => {
                            let s = at + 22;
                            assert_eq!(&medium[s..s + d.len()], &d[..], "stream data at {s}");
                            Some(d)
                        }
                        Ok(None) => None,
                        Err(e) => {
                            assert!(
                                e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
                                "{e}"
                            );
                            out.push(Seen::End(Some(e.to_string())));
                            return out;
                        }
                    }
                } else {
                    None
                };
                k += 1;
                out.push(Seen::Stream(offset, v, data));
            }
            Ok(Some(Event::Filemark { offset })) => out.push(Seen::Filemark(offset)),
            Ok(Some(Event::StreamCut { offset, remaining })) => {
                assert!(offset as usize <= medium.len(), "cut at {offset}");
                out.push(Seen::Cut(offset, remaining))
            }
            Ok(Some(Event::Damage(d))) => {
                assert!(d.reason.offset().is_some(), "{}", d.reason);
                out.push(Seen::Damage(d.offset, d.len, d.reason.to_string()));
            }
            Ok(None) => {
                out.push(Seen::End(None));
                return out;
            }
            Err(e) => {
                assert!(
                    e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
                    "{e}"
                );
                out.push(Seen::End(Some(e.to_string())));
                return out;
            }
        }
    }
    panic!(
        "more than 100,000 events from a {}-byte medium",
        medium.len()
    );
}

fuzz_target!(|data: &[u8]| {
    // Byte 0: mode, read mask source, schedule length; then the schedule; then the medium.
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let n = (ctl & 0x0F) as usize;
    if rest.len() < n {
        return;
    }
    let (schedule, medium) = rest.split_at(n);
    let mode = if ctl & 0x10 != 0 {
        Mode::Strict
    } else {
        Mode::Resync
    };
    let mask = if ctl & 0x20 != 0 { 0xFF } else { 0x55 };

    let seek = read_all(SeekSource::new(Cursor::new(medium)), mode, mask, medium);
    let step = if ctl & 0x40 != 0 { 97 } else { 0 };
    let pipe = if step == 0 {
        Chunked::new(medium, schedule)
    } else {
        Chunked::scaled(medium, schedule, step)
    };
    let piped = read_all(StreamSource::new(pipe), mode, mask, medium);
    assert_eq!(seek, piped, "a pipe and a seekable file read differently");

    // The same bytes as tape records, a filemark after every `record`-th record.
    let record = 512 * (1 + (ctl >> 6) as usize);
    let mut tape = MemoryTape::new();
    for (i, c) in medium.chunks(record).enumerate() {
        tape.push_record(c.to_vec());
        if schedule.get(i % 16).is_some_and(|b| b & 1 != 0) {
            tape.push_filemark();
        }
    }
    let mut r = Reader::with_mode(tape, mode);
    for _ in 0..100_000 {
        match r.next_event() {
            Ok(Some(Event::Stream { .. })) => {
                let _ = r.read_data();
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                assert!(
                    e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
                    "{e}"
                );
                break;
            }
        }
    }
});
