//! The SIMH `.tap` image parser and the emulated drive over arbitrary images. The parser yields
//! objects in order, each record's bytes exactly as stored, or a typed error, never a panic; the
//! emulated drive loads the image (or refuses it with a typed error), reads back exactly what
//! the parser found, survives a sequence of drive operations (taken from the input's last bytes)
//! and always leaves an image the parser reads without error.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf_fuzz as _;
use tape_sys::tap_format::{self, TapEntry};
use tape_sys::{BlockSize, EmulatedOptions, EmulatedTape, ReadResult, Space, TapeDevice};

fuzz_target!(|data: &[u8]| {
    // The parser.
    let mut entries = Vec::new();
    let mut last_offset = None;
    let mut parse_error = false;
    for e in tap_format::parse(data) {
        match e {
            Ok(e) => {
                let offset = match e {
                    TapEntry::Record {
                        offset, data: rec, ..
                    } => {
                        assert!(!rec.is_empty());
                        let at = offset as usize + 4;
                        assert_eq!(&data[at..at + rec.len()], rec);
                        entries.push(Some(rec.to_vec()));
                        offset
                    }
                    TapEntry::TapeMark { offset } => {
                        entries.push(None);
                        offset
                    }
                    TapEntry::EndOfMedium { offset } => offset,
                };
                assert!(
                    last_offset.is_none_or(|l| offset > l),
                    "objects must move forward"
                );
                last_offset = Some(offset);
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                parse_error = true;
            }
        }
    }

    // The emulated drive. Controls come from the last bytes of the input (so plain images are
    // good seeds): flags, then operations.
    let ctl = &data[data.len().saturating_sub(24)..];
    let flags = ctl.first().copied().unwrap_or(0);
    let mut opts = EmulatedOptions::new().recover_truncated(flags & 1 != 0);
    if flags & 2 != 0 {
        opts = opts.capacity(data.len() as u64 + 4096).early_warning(1024);
    }
    let mut tape = match EmulatedTape::from_image(data.to_vec(), opts) {
        Ok(t) => t,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let mut buf = vec![0u8; 1 << 16];
    let big = entries.iter().flatten().any(|r| r.len() > buf.len());
    if !parse_error && !big {
        // Read everything: the same records and filemarks as the parser found.
        let mut got = Vec::new();
        for _ in 0..entries.len() + 2 {
            match tape.read_block(&mut buf) {
                Ok(ReadResult::Data(n)) => got.push(Some(buf[..n].to_vec())),
                Ok(ReadResult::Filemark) => got.push(None),
                Ok(ReadResult::EndOfData) => break,
                Err(_) => break,
            }
        }
        // A record read with an error (SIMH's bad class) stops the read-back early.
        assert_eq!(&entries[..got.len()], &got[..], "drive and parser disagree");
        let _ = tape.rewind();
    }
    for op in ctl.iter().skip(1) {
        let n = u32::from(op >> 4);
        let _ = match op & 0x0F {
            0 => tape.read_block(&mut buf).map(|_| ()),
            1 => tape.read_block(&mut buf[..(n as usize) * 7]).map(|_| ()),
            2 => tape.space(Space::Fsf, n),
            3 => tape.space(Space::Bsf, n),
            4 => tape.space(Space::Fsr, n),
            5 => tape.space(Space::Bsr, n),
            6 => tape.space(Space::Fsfm, n),
            7 => tape.space(Space::Bsfm, n),
            8 => tape.rewind(),
            9 => tape.end_of_data(),
            10 => tape
                .write_block(&[n as u8; 37][..(n as usize) * 2 + 1])
                .map(|_| ()),
            11 => tape.write_filemarks(n % 3).map(|_| ()),
            12 => tape.seek(u64::from(n)),
            13 => tape.tell().map(|_| ()),
            14 => tape.set_block_size(if n == 0 {
                BlockSize::Variable
            } else {
                BlockSize::Fixed(n * 4)
            }),
            _ => tape.status().map(|_| ()),
        };
    }
    let image = tape.into_image().expect("an in-memory image");
    for e in tap_format::parse(&image) {
        if let Err(e) = e {
            // A damaged image loaded with recovery keeps its damage past end of data only if
            // nothing was written; anything else the drive leaves must parse.
            assert!(flags & 1 != 0, "the drive left an unreadable image: {e}");
        }
    }
});
