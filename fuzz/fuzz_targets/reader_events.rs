//! The streaming reader (`mtf::reader::Reader`) over arbitrary media, in both modes, from a
//! seekable source and from a pipe that hands out 1..N bytes per read (sizes from the input),
//! reading some streams' data and skipping the rest (by seek where it can). The file's data is
//! read with `read_data`, the pipe's with `read_data_into` (buffer sizes from the input, some
//! big enough for the source to read straight into them). Both must give the same events;
//! every block, stream header and data byte handed out is exactly the medium's bytes at its
//! offset; every error is typed; and the same medium cut into tape records (with filemarks
//! and empty records between them) reads without a panic, the same with either way of reading
//! data.
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

/// The rest of the current stream's data, at most 1 MiB (else skipped: `None`), read with
/// `read_data`, or with `read_data_into` and a buffer of `into` bytes.
fn data<S: BlockSource>(r: &mut Reader<S>, into: Option<usize>) -> mtf::Result<Option<Vec<u8>>> {
    if r.data_remaining() > 1 << 20 {
        r.skip_data()?;
        return Ok(None);
    }
    let mut d = Vec::new();
    match into {
        None => {
            while let Some(c) = r.read_data()? {
                d.extend_from_slice(c);
            }
        }
        Some(size) => {
            let mut buf = vec![0u8; size];
            while let Some(n) = r.read_data_into(&mut buf)? {
                assert!(n > 0 && n <= size, "{n} bytes into a {size}-byte buffer");
                d.extend_from_slice(&buf[..n]);
            }
        }
    }
    Ok(Some(d))
}

/// Reads every event; the data of stream `k` is read when bit `k % 8` of `read_mask` is set
/// (see [`data`] for `into`). Blocks and data are checked against `medium` when given (a tape's
/// filemarks fall between its bytes, at no offset of their own).
fn read_all<S: BlockSource>(
    src: S,
    mode: Mode,
    read_mask: u8,
    medium: Option<&[u8]>,
    into: Option<usize>,
) -> Vec<Seen> {
    let mut r = Reader::with_mode(src, mode);
    let mut out = Vec::new();
    let mut k = 0usize;
    for _ in 0..100_000 {
        match r.next_event() {
            Ok(Some(Event::Block { offset, dblk })) => {
                let mut v = Vec::new();
                dblk.write_raw(&mut v).expect("a parsed block writes back");
                let at = offset as usize;
                if let Some(m) = medium {
                    assert_eq!(&m[at..at + v.len()], &v[..], "block at {at}");
                }
                out.push(Seen::Block(offset, v));
            }
            Ok(Some(Event::Stream { offset, header })) => {
                let mut v = Vec::new();
                header.write_raw(&mut v);
                let at = offset as usize;
                if let Some(m) = medium {
                    assert_eq!(&m[at..at + 22], &v[..], "stream header at {at}");
                }
                let data = if read_mask & (1 << (k % 8)) != 0 {
                    match data(&mut r, into) {
                        Ok(Some(d)) => {
                            let s = at + 22;
                            if let Some(m) = medium {
                                assert_eq!(&m[s..s + d.len()], &d[..], "stream data at {s}");
                            }
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
                if let Some(m) = medium {
                    assert!(offset as usize <= m.len(), "cut at {offset}");
                }
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
    panic!("more than 100,000 events from a medium");
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

    // The buffer `read_data_into` gets: small (through the reader's buffer) or big enough for
    // the source to read straight into it.
    let into = match schedule.first().copied().unwrap_or(0) % 4 {
        0 => 1,
        1 => 1 + 61 * schedule.get(1).copied().unwrap_or(0) as usize,
        2 => 1 << 20,
        _ => (1 << 20) + 4099,
    };
    let seek = read_all(
        SeekSource::new(Cursor::new(medium)),
        mode,
        mask,
        Some(medium),
        None,
    );
    let step = if ctl & 0x40 != 0 { 97 } else { 0 };
    let pipe = if step == 0 {
        Chunked::new(medium, schedule)
    } else {
        Chunked::scaled(medium, schedule, step)
    };
    let piped = read_all(
        StreamSource::new(pipe),
        mode,
        mask,
        Some(medium),
        Some(into),
    );
    assert_eq!(seek, piped, "a pipe and a seekable file read differently");

    // The same bytes as tape records, a filemark after every `record`-th record.
    let record = 512 * (1 + (ctl >> 6) as usize);
    let mut tape = MemoryTape::new();
    for (i, c) in medium.chunks(record).enumerate() {
        tape.push_record(c.to_vec());
        if schedule.get(i % 16).is_some_and(|b| b & 1 != 0) {
            tape.push_filemark();
        }
        // Now and then an empty record, which both ways of reading data must pass.
        if schedule.get(i % 16).is_some_and(|b| b & 6 == 6) {
            tape.push_record(Vec::new());
        }
    }
    let tape_into = tape.clone();
    let by_chunks = read_all(tape, mode, 0xFF, None, None);
    // Records are at most 64 KiB here: 64 KiB is room enough to read one straight in.
    let into = if into >= 1 << 20 { 64 * 1024 } else { into };
    let by_buffer = read_all(tape_into, mode, 0xFF, None, Some(into));
    assert_eq!(by_chunks, by_buffer, "a tape read two ways");
});
