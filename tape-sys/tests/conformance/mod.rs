//! The behavioural contract of `TapeDevice`, as one suite for every backend.
//!
//! `tests/emulated.rs` runs it on `EmulatedTape` (in memory and file-backed)
//! in every `cargo test`; `tests/st.rs` runs it on the real st driver when
//! `$TAPE` names a drive, which `tests/vm/run.sh` arranges inside a VM with
//! scsi_debug's tape emulation.
//!
//! scsi_debug keeps only the first 4 bytes of each block, so every block
//! carries a tag there and the suite checks tags (and full contents only on
//! backends that keep them). It also refuses variable blocks below 512
//! bytes, so every block here is at least that large.

#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use tape_sys::{BlockSize, Number, ReadResult, Space, TapeDevice, TapeError, WriteResult};

/// One backend under test.
pub trait Backend {
    /// The device as it is open now.
    fn dev(&mut self) -> &mut dyn TapeDevice;
    /// Closes the device (which writes st's close-time filemark after a
    /// write) and opens the same medium again; write-protected if asked.
    fn reopen(&mut self, write_protected: bool);
    /// Whether a reopened device is where the old one left the tape (a drive
    /// is; an image file starts at BOT).
    fn reopen_keeps_position(&self) -> bool;
    /// The smallest variable block the drive takes.
    fn min_block(&self) -> usize;
    /// Blocks keep their whole content (scsi_debug keeps 4 bytes).
    fn full_content(&self) -> bool;
    /// More blocks than a fill of the medium can take.
    fn fill_limit(&self) -> usize;
    /// The end-of-medium decisions the backend took so far, for the log.
    fn eom_report(&self) -> String;
}

/// A case of the suite.
pub struct Case {
    pub name: &'static str,
    pub run: fn(&mut dyn Backend),
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case, in the order they run.
        pub const CASES: &[Case] = &[$(Case { name: stringify!($name), run: $name }),*];
    };
}

cases!(
    bot_after_rewind,
    variable_blocks_and_filemarks,
    reads_at_end_of_data,
    too_small_buffer_keeps_the_block,
    spacing_over_filemarks,
    spacing_over_records,
    spacing_stops_at_the_ends,
    end_of_data_status_and_append,
    seek_and_tell,
    writing_in_the_middle_truncates,
    implicit_filemark_on_rewind,
    implicit_filemark_on_seek,
    implicit_filemark_on_bsf,
    implicit_filemark_on_close,
    fixed_block_mode,
    block_limits_and_setblk,
    end_of_medium_variable,
    end_of_medium_fixed,
    write_protection,
    unload_and_load,
    erase_leaves_a_blank_tape,
    compression_on_off,
);

/// Runs every case (or those whose name contains `filter`), each after a
/// reset, and returns the names of those that failed.
pub fn run_all(b: &mut dyn Backend, filter: Option<&str>) -> (usize, Vec<String>) {
    run_matching(b, |name| match filter {
        None => true,
        Some(f) => name.contains(f),
    })
}

/// Runs the cases whose name `select` accepts; see [`run_all`].
pub fn run_matching(b: &mut dyn Backend, select: impl Fn(&str) -> bool) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failed = Vec::new();
    for case in CASES {
        if !select(case.name) {
            continue;
        }
        ran += 1;
        let r = catch_unwind(AssertUnwindSafe(|| {
            reset(b);
            (case.run)(b);
        }));
        match r {
            Ok(()) => println!("conformance {} ... ok", case.name),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("conformance {} ... FAILED: {msg}", case.name);
                failed.push(case.name.to_string());
                // Leave a read-write handle for the next case, whatever
                // state this one failed in.
                let _ = catch_unwind(AssertUnwindSafe(|| b.reopen(false)));
            }
        }
    }
    (ran, failed)
}

/// Brings the drive back to a known state after whatever the last case did.
fn reset(b: &mut dyn Backend) {
    let d = b.dev();
    if !d.status().is_ok_and(|s| s.online) {
        d.load().expect("load");
    }
    d.set_block_size(BlockSize::Variable).expect("setblk 0");
    d.rewind().expect("rewind");
}

// ---------------------------------------------------------------- helpers

const TAG_BASE: u32 = 0x5A00_0000;

/// A block of `len` bytes tagged `tag` in its first 4 bytes.
fn block(tag: u32, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| (tag as usize * 31 + i * 7) as u8)
        .collect();
    v[..4].copy_from_slice(&(TAG_BASE | tag).to_le_bytes());
    v
}

/// What a read found, by tag.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Got {
    Block { tag: u32, len: usize },
    Filemark,
    Eod,
}

fn write(b: &mut dyn Backend, tag: u32, len: usize) -> WriteResult {
    b.dev()
        .write_block(&block(tag, len))
        .unwrap_or_else(|e| panic!("write tag {tag} ({len} bytes): {e}"))
}

fn weof(b: &mut dyn Backend, n: u32) {
    b.dev()
        .write_filemarks(n)
        .unwrap_or_else(|e| panic!("weof {n}: {e}"));
}

fn read_with(b: &mut dyn Backend, buf_len: usize) -> Got {
    let full = b.full_content();
    let mut buf = vec![0u8; buf_len];
    match b.dev().read_block(&mut buf).expect("read") {
        ReadResult::Filemark => Got::Filemark,
        ReadResult::EndOfData => Got::Eod,
        ReadResult::Data(n) => {
            assert!(n >= 4, "a {n}-byte block has no tag");
            let word = u32::from_le_bytes(buf[..4].try_into().unwrap());
            assert_eq!(word & 0xFF00_0000, TAG_BASE, "untagged block {word:#x}");
            let tag = word & 0x00FF_FFFF;
            if full {
                assert!(buf[..n] == block(tag, n)[..], "content of block {tag}");
            }
            Got::Block { tag, len: n }
        }
    }
}

fn read(b: &mut dyn Backend) -> Got {
    read_with(b, 1 << 20)
}

fn expect_block(b: &mut dyn Backend, tag: u32, len: usize) {
    assert_eq!(read(b), Got::Block { tag, len }, "expected block {tag}");
}

fn tell(b: &mut dyn Backend) -> u64 {
    b.dev().tell().expect("tell")
}

fn space(b: &mut dyn Backend, how: Space, n: u32) {
    b.dev()
        .space(how, n)
        .unwrap_or_else(|e| panic!("{} {n}: {e}", how.name()));
}

/// The layout most cases start from (positions in brackets):
/// file 0: 1 [0], 2 [1], 3 [2], FM [3]; file 1: 4 [4], 5 [5], FM [6];
/// file 2: 6 [7], FM [8]; end of data [9].
const LAYOUT: &[(u32, usize)] = &[
    (1, 1000),
    (2, 2000),
    (3, 600),
    (0, 0),
    (4, 4096),
    (5, 65536),
    (0, 0),
    (6, 800),
    (0, 0),
];
const LAYOUT_EOD: u64 = 9;

fn write_layout(b: &mut dyn Backend) {
    b.dev().rewind().unwrap();
    for &(tag, len) in LAYOUT {
        if tag == 0 {
            weof(b, 1);
        } else {
            write(b, tag, len);
        }
    }
    assert_eq!(tell(b), LAYOUT_EOD);
}

fn len_of(tag: u32) -> usize {
    LAYOUT.iter().find(|(t, _)| *t == tag).unwrap().1
}

// ------------------------------------------------------------------ cases

fn bot_after_rewind(b: &mut dyn Backend) {
    let s = b.dev().status().unwrap();
    assert!(s.bot, "BOT after rewind: {s:?}");
    assert!(s.online && !s.door_open && !s.eod && !s.eot, "{s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(0), Number::Known(0))
    );
    assert_eq!(s.block_size, BlockSize::Variable);
    assert_eq!(tell(b), 0);
}

fn variable_blocks_and_filemarks(b: &mut dyn Backend) {
    assert_eq!(write(b, 1, 1000), WriteResult::Written);
    let s = b.dev().status().unwrap();
    assert!(!s.bot && !s.eof, "{s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(0), Number::Known(1))
    );
    assert_eq!(tell(b), 1);
    write(b, 2, 2000);
    write(b, 3, 600);
    assert_eq!(b.dev().write_filemarks(1).unwrap(), WriteResult::Written);
    let s = b.dev().status().unwrap();
    assert!(s.eof && !s.bot, "EOF after a filemark: {s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(1), Number::Known(0))
    );
    assert_eq!(tell(b), 4, "a filemark takes a position");
    write(b, 4, 4096);
    write(b, 5, 65536);
    weof(b, 1);
    write(b, 6, 800);
    weof(b, 1);
    assert_eq!(tell(b), LAYOUT_EOD);

    b.dev().rewind().unwrap();
    expect_block(b, 1, 1000);
    let s = b.dev().status().unwrap();
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(0), Number::Known(1))
    );
    expect_block(b, 2, 2000);
    expect_block(b, 3, 600);
    assert_eq!(read(b), Got::Filemark);
    let s = b.dev().status().unwrap();
    assert!(s.eof && !s.eod, "{s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(1), Number::Known(0))
    );
    assert_eq!(tell(b), 4, "after the filemark");
    expect_block(b, 4, 4096);
    assert!(!b.dev().status().unwrap().eof, "EOF clears after data");
    expect_block(b, 5, 65536);
    assert_eq!(read(b), Got::Filemark);
    expect_block(b, 6, 800);
    assert_eq!(read(b), Got::Filemark);
    let s = b.dev().status().unwrap();
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(3), Number::Known(0))
    );
    assert_eq!(read(b), Got::Eod, "end of data after the last filemark");
    let s = b.dev().status().unwrap();
    assert!(s.eod, "EOD flag: {s:?}");
    assert!(s.file_number.is_unknown_or(3), "{s:?}");
    assert_eq!(
        s.block_number,
        Number::Unknown,
        "st forgets the block at EOD"
    );
    assert_eq!(tell(b), LAYOUT_EOD);
}

fn reads_at_end_of_data(b: &mut dyn Backend) {
    write_layout(b);
    // Directly after writing: st answers EIO without GMT_EOD.
    assert_eq!(read(b), Got::Eod, "read right after the last write");
    assert_eq!(read(b), Got::Eod);
    assert_eq!(tell(b), LAYOUT_EOD, "reads at EOD do not move");
    // After reading the last filemark: st answers 0 once more, then EIO.
    b.dev().seek(7).unwrap();
    expect_block(b, 6, 800);
    assert_eq!(read(b), Got::Filemark);
    for _ in 0..3 {
        assert_eq!(read(b), Got::Eod);
    }
    assert_eq!(tell(b), LAYOUT_EOD);
    // After seeking to end of data.
    b.dev().seek(LAYOUT_EOD).unwrap();
    assert_eq!(read(b), Got::Eod, "read after seeking to EOD");
    assert_eq!(tell(b), LAYOUT_EOD);
}

fn too_small_buffer_keeps_the_block(b: &mut dyn Backend) {
    write(b, 11, 2000);
    write(b, 12, 600);
    weof(b, 1);
    b.dev().rewind().unwrap();
    let mut small = vec![0u8; 1000];
    match b.dev().read_block(&mut small) {
        Err(TapeError::BlockTooLarge {
            block_len,
            buffer_len,
        }) => {
            assert_eq!(buffer_len, 1000);
            assert!(
                block_len.is_none() || block_len == Some(2000),
                "{block_len:?}"
            );
        }
        r => panic!("1000-byte buffer for a 2000-byte block: {r:?}"),
    }
    assert_eq!(tell(b), 0, "the block was not consumed");
    let mut tiny = vec![0u8; 100];
    assert!(
        matches!(
            b.dev().read_block(&mut tiny),
            Err(TapeError::BlockTooLarge { .. })
        ),
        "buffer below the drive's minimum block"
    );
    assert_eq!(tell(b), 0);
    expect_block(b, 11, 2000);
    assert_eq!(
        read_with(b, 4096),
        Got::Block { tag: 12, len: 600 },
        "larger buffer: block length"
    );
    assert_eq!(read(b), Got::Filemark);
}

fn spacing_over_filemarks(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().rewind().unwrap();
    space(b, Space::Fsf, 1);
    assert_eq!(tell(b), 4, "fsf stops after the filemark");
    let s = b.dev().status().unwrap();
    assert!(s.eof, "{s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(1), Number::Known(0))
    );
    expect_block(b, 4, 4096);
    space(b, Space::Fsf, 1);
    assert_eq!(tell(b), 7);
    space(b, Space::Bsf, 1);
    assert_eq!(tell(b), 6, "bsf stops before (BOT side of) the filemark");
    let s = b.dev().status().unwrap();
    assert_eq!(s.file_number, Number::Known(1), "{s:?}");
    assert!(s.block_number.is_unknown_or(2), "{s:?}");
    assert_eq!(read(b), Got::Filemark);
    assert_eq!(tell(b), 7);

    b.dev().rewind().unwrap();
    space(b, Space::Fsfm, 1);
    assert_eq!(tell(b), 3, "fsfm stops before the filemark");
    let s = b.dev().status().unwrap();
    assert_eq!(s.file_number, Number::Known(0), "{s:?}");
    assert!(s.block_number.is_unknown_or(3), "{s:?}");
    assert_eq!(read(b), Got::Filemark);
    space(b, Space::Fsfm, 2);
    assert_eq!(tell(b), 8, "fsfm 2 from the start of file 1");

    b.dev().end_of_data().unwrap();
    space(b, Space::Bsfm, 1);
    assert_eq!(tell(b), 9, "bsfm from EOD: after the last filemark again");
    let s = b.dev().status().unwrap();
    assert!(s.eof, "{s:?}");
    assert_eq!(s.block_number, Number::Known(0), "{s:?}");
    space(b, Space::Bsfm, 2);
    assert_eq!(tell(b), 7, "bsfm 2: start of file 2");
    expect_block(b, 6, 800);
}

fn spacing_over_records(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().rewind().unwrap();
    space(b, Space::Fsr, 2);
    assert_eq!(tell(b), 2);
    let s = b.dev().status().unwrap();
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(0), Number::Known(2))
    );
    expect_block(b, 3, 600);
    space(b, Space::Bsr, 2);
    assert_eq!(tell(b), 1);
    let s = b.dev().status().unwrap();
    assert_eq!(s.block_number, Number::Known(1), "{s:?}");
    expect_block(b, 2, 2000);

    b.dev().seek(1).unwrap();
    match b.dev().space(Space::Fsr, 3) {
        Err(TapeError::FilemarkEncountered) => {}
        r => panic!("fsr into a filemark: {r:?}"),
    }
    assert_eq!(tell(b), 4, "forward: stopped after the filemark");
    expect_block(b, 4, 4096);

    b.dev().seek(5).unwrap();
    match b.dev().space(Space::Bsr, 2) {
        Err(TapeError::FilemarkEncountered) => {}
        r => panic!("bsr into a filemark: {r:?}"),
    }
    assert_eq!(tell(b), 3, "backward: stopped before the filemark");
    assert_eq!(read(b), Got::Filemark);
}

fn spacing_stops_at_the_ends(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().rewind().unwrap();
    match b.dev().space(Space::Fsf, 4) {
        Err(TapeError::EndOfData) => {}
        r => panic!("fsf past the last filemark: {r:?}"),
    }
    assert_eq!(tell(b), LAYOUT_EOD, "left at EOD");
    assert!(b.dev().status().unwrap().eod);

    b.dev().rewind().unwrap();
    match b.dev().space(Space::Bsf, 1) {
        Err(TapeError::BeginningOfMedium) => {}
        r => panic!("bsf at BOT: {r:?}"),
    }
    assert_eq!(tell(b), 0);
    assert!(b.dev().status().unwrap().bot);

    b.dev().seek(1).unwrap();
    match b.dev().space(Space::Bsr, 2) {
        Err(TapeError::BeginningOfMedium) => {}
        r => panic!("bsr past BOT: {r:?}"),
    }
    assert_eq!(tell(b), 0);

    b.dev().seek(7).unwrap();
    expect_block(b, 6, 800);
    assert_eq!(read(b), Got::Filemark);
    match b.dev().space(Space::Fsr, 1) {
        Err(TapeError::EndOfData) => {}
        r => panic!("fsr at EOD: {r:?}"),
    }
    assert_eq!(tell(b), LAYOUT_EOD);
}

fn end_of_data_status_and_append(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().rewind().unwrap();
    b.dev().end_of_data().unwrap();
    assert_eq!(tell(b), LAYOUT_EOD);
    let s = b.dev().status().unwrap();
    assert!(s.eod && !s.bot, "{s:?}");
    assert!(s.file_number.is_unknown_or(3), "{s:?}");
    assert_eq!(s.block_number, Number::Unknown, "{s:?}");
    write(b, 7, 700);
    weof(b, 1);
    assert_eq!(tell(b), LAYOUT_EOD + 2);
    b.dev().rewind().unwrap();
    b.dev().end_of_data().unwrap();
    assert_eq!(tell(b), LAYOUT_EOD + 2, "appending moved EOD");
    b.dev().seek(LAYOUT_EOD).unwrap();
    expect_block(b, 7, 700);
    assert_eq!(read(b), Got::Filemark);
    assert_eq!(read(b), Got::Eod);
}

fn seek_and_tell(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().seek(1).unwrap();
    assert_eq!(tell(b), 1);
    let s = b.dev().status().unwrap();
    assert!(
        s.file_number.is_unknown_or(0) && s.block_number.is_unknown_or(1),
        "{s:?}"
    );
    expect_block(b, 2, 2000);
    assert_eq!(tell(b), 2);
    b.dev().seek(4).unwrap();
    expect_block(b, 4, 4096);
    b.dev().seek(3).unwrap();
    assert_eq!(read(b), Got::Filemark, "seek to a filemark's position");
    b.dev().seek(0).unwrap();
    let s = b.dev().status().unwrap();
    assert!(s.bot, "seek 0 is BOT: {s:?}");
    assert_eq!(
        (s.file_number, s.block_number),
        (Number::Known(0), Number::Known(0))
    );
    expect_block(b, 1, len_of(1));
    match b.dev().seek(LAYOUT_EOD + 5) {
        Err(TapeError::EndOfData) => {}
        r => panic!("seek past end of data: {r:?}"),
    }
    assert_eq!(tell(b), LAYOUT_EOD, "left at end of data");
    assert_eq!(read(b), Got::Eod);
    for (pos, &(tag, len)) in LAYOUT.iter().enumerate().rev() {
        b.dev().seek(pos as u64).unwrap();
        if tag == 0 {
            assert_eq!(read(b), Got::Filemark, "at {pos}");
        } else {
            assert_eq!(read(b), Got::Block { tag, len }, "at {pos}");
        }
    }
}

fn writing_in_the_middle_truncates(b: &mut dyn Backend) {
    write_layout(b);
    b.dev().rewind().unwrap();
    space(b, Space::Fsf, 1);
    write(b, 60, 800);
    weof(b, 1);
    assert_eq!(tell(b), 6);
    b.dev().rewind().unwrap();
    b.dev().end_of_data().unwrap();
    assert_eq!(tell(b), 6, "the write made a new end of data");
    b.dev().seek(4).unwrap();
    expect_block(b, 60, 800);
    assert_eq!(read(b), Got::Filemark);
    assert_eq!(read(b), Got::Eod);
}

fn implicit_filemark_on_rewind(b: &mut dyn Backend) {
    write_layout(b);
    write(b, 20, 700);
    b.dev().rewind().unwrap();
    b.dev().seek(LAYOUT_EOD).unwrap();
    expect_block(b, 20, 700);
    assert_eq!(
        read(b),
        Got::Filemark,
        "rewind after a write wrote a filemark"
    );
    assert_eq!(read(b), Got::Eod);
    assert_eq!(tell(b), LAYOUT_EOD + 2);
}

fn implicit_filemark_on_seek(b: &mut dyn Backend) {
    write_layout(b);
    write(b, 22, 700);
    b.dev().seek(2).unwrap();
    assert_eq!(tell(b), 2);
    b.dev().seek(LAYOUT_EOD).unwrap();
    expect_block(b, 22, 700);
    assert_eq!(
        read(b),
        Got::Filemark,
        "seek after a write wrote a filemark"
    );
    assert_eq!(read(b), Got::Eod);
}

fn implicit_filemark_on_bsf(b: &mut dyn Backend) {
    write_layout(b);
    write(b, 21, 700);
    // st writes a filemark first and does not count it: bsf 1 goes back
    // over the filemark that was there before the write.
    space(b, Space::Bsf, 1);
    assert_eq!(
        tell(b),
        8,
        "bsf 1 after a write: before the previous filemark"
    );
    assert_eq!(read(b), Got::Filemark);
    expect_block(b, 21, 700);
    assert_eq!(read(b), Got::Filemark, "the implicit filemark");
    assert_eq!(read(b), Got::Eod);
}

fn implicit_filemark_on_close(b: &mut dyn Backend) {
    write(b, 31, 900);
    write(b, 32, 1100);
    b.reopen(false);
    if b.reopen_keeps_position() {
        assert_eq!(
            tell(b),
            3,
            "closing after a write wrote a filemark and stayed after it"
        );
        let s = b.dev().status().unwrap();
        assert!(
            s.file_number.is_unknown_or(1) && s.block_number.is_unknown_or(0),
            "{s:?}"
        );
    }
    b.dev().rewind().unwrap();
    expect_block(b, 31, 900);
    expect_block(b, 32, 1100);
    assert_eq!(read(b), Got::Filemark, "filemark written by close");
    assert_eq!(read(b), Got::Eod);
}

fn fixed_block_mode(b: &mut dyn Backend) {
    b.dev().set_block_size(BlockSize::Fixed(512)).unwrap();
    assert_eq!(b.dev().status().unwrap().block_size, BlockSize::Fixed(512));
    for tag in 70..74 {
        assert_eq!(write(b, tag, 512), WriteResult::Written);
    }
    let s = b.dev().status().unwrap();
    assert_eq!(s.block_number, Number::Known(4), "{s:?}");
    match b.dev().write_block(&block(99, 700)) {
        Err(TapeError::InvalidArgument { .. }) => {}
        r => panic!("700 bytes in fixed 512 mode: {r:?}"),
    }
    assert_eq!(tell(b), 4, "refused write did not move");
    write(b, 74, 512);
    weof(b, 1);
    assert_eq!(tell(b), 6);
    b.dev().rewind().unwrap();
    let mut small = vec![0u8; 256];
    assert!(matches!(
        b.dev().read_block(&mut small),
        Err(TapeError::BlockTooLarge { .. })
    ));
    assert_eq!(tell(b), 0);
    for tag in 70..75 {
        assert_eq!(read_with(b, 512), Got::Block { tag, len: 512 });
    }
    assert_eq!(read(b), Got::Filemark);
    assert_eq!(read(b), Got::Eod);
    b.dev().rewind().unwrap();
    assert_eq!(
        read_with(b, 8192),
        Got::Block { tag: 70, len: 512 },
        "one block per read"
    );
    assert_eq!(tell(b), 1);
    b.dev().set_block_size(BlockSize::Variable).unwrap();
    b.dev().rewind().unwrap();
    assert_eq!(
        read(b),
        Got::Block { tag: 70, len: 512 },
        "fixed blocks read back as 512-byte blocks"
    );
}

fn block_limits_and_setblk(b: &mut dyn Backend) {
    let l = match b.dev().block_limits() {
        Ok(l) => l,
        Err(TapeError::Unsupported { .. }) => {
            println!("  (block limits unavailable here; skipped)");
            return;
        }
        Err(e) => panic!("block limits: {e}"),
    };
    assert!(l.min >= 1 && l.max >= l.min, "{l:?}");
    assert!(l.min as usize <= b.min_block() && l.max >= 65536, "{l:?}");
    if l.max < 0x00FF_FFFF {
        assert!(matches!(
            b.dev().set_block_size(BlockSize::Fixed(l.max + 1)),
            Err(TapeError::InvalidArgument { .. })
        ));
    }
    if l.min > 1 {
        assert!(matches!(
            b.dev().set_block_size(BlockSize::Fixed(l.min - 1)),
            Err(TapeError::InvalidArgument { .. })
        ));
        assert!(matches!(
            b.dev().write_block(&block(98, l.min as usize - 1)),
            Err(TapeError::InvalidArgument { .. })
        ));
        assert_eq!(tell(b), 0, "refused write did not move");
    }
    assert_eq!(b.dev().status().unwrap().block_size, BlockSize::Variable);
    b.dev()
        .set_block_size(BlockSize::Fixed(l.min.max(512)))
        .unwrap();
    assert_eq!(
        b.dev().status().unwrap().block_size,
        BlockSize::Fixed(l.min.max(512))
    );
    b.dev().set_block_size(BlockSize::Variable).unwrap();
}

/// Fills the medium from BOT and reads everything back: every block
/// reported written is there once, in order; none reported not written is.
fn fill_and_verify(b: &mut dyn Backend, mode: BlockSize) {
    let len = match mode {
        BlockSize::Fixed(n) => n as usize,
        BlockSize::Variable => b.min_block().max(512),
    };
    b.dev().set_block_size(mode).unwrap();
    let mut committed: Vec<Got> = Vec::new();
    let mut first_ew = None;
    let mut end = false;
    for tag in 1..=b.fill_limit() as u32 {
        match b.dev().write_block(&block(tag, len)) {
            Ok(WriteResult::Written) => {
                assert!(
                    first_ew.is_none(),
                    "Written after early warning (block {tag})"
                );
                committed.push(Got::Block { tag, len });
            }
            Ok(WriteResult::EarlyWarning) => {
                committed.push(Got::Block { tag, len });
                if first_ew.is_none() {
                    first_ew = Some(tag);
                    let s = b.dev().status().unwrap();
                    assert!(s.eot, "EOT after early warning: {s:?}");
                }
                // Some blocks into the zone (where st refuses every other
                // write), a trailer filemark fits.
                if first_ew.is_some_and(|ew| tag == ew + 4) {
                    assert_eq!(
                        b.dev().write_filemarks(1).unwrap(),
                        WriteResult::EarlyWarning
                    );
                    committed.push(Got::Filemark);
                }
            }
            Err(TapeError::EndOfMedium) => {
                end = true;
                break;
            }
            Err(e) => panic!("write {tag}: {e}"),
        }
    }
    let first_ew = first_ew.expect("early warning before the end of the medium");
    assert!(end, "no end of medium within {} blocks", b.fill_limit());
    assert!(first_ew > 1, "early warning at the first block");
    for _ in 0..3 {
        assert!(
            matches!(
                b.dev().write_block(&block(0xFFFF, len)),
                Err(TapeError::EndOfMedium)
            ),
            "still full"
        );
    }
    if mode == BlockSize::Variable {
        match b.dev().write_filemarks(1) {
            Ok(_) => committed.push(Got::Filemark),
            Err(TapeError::EndOfMedium) => {}
            Err(e) => panic!("filemark at the end of the medium: {e}"),
        }
    }
    // In fixed mode the rewind below comes straight after the refused
    // writes: st's implicit filemark cannot be written there, and st fails
    // every rewind until its writing state ends (README item 18).
    let written = committed.len();
    println!(
        "  {mode}: early warning at block {first_ew}, {written} objects on the medium; {}",
        b.eom_report()
    );
    b.dev()
        .rewind()
        .expect("rewind after the end of the medium");
    let s = b.dev().status().unwrap();
    assert!(s.bot && !s.eot, "rewind clears EOT: {s:?}");
    for (i, want) in committed.iter().enumerate() {
        let got = read_with(b, 1 << 16);
        assert_eq!(&got, want, "object {i} of {written}");
    }
    assert_eq!(read(b), Got::Eod, "nothing after the last committed object");
    b.dev().rewind().unwrap();
    b.dev().set_block_size(BlockSize::Variable).unwrap();
}

fn end_of_medium_variable(b: &mut dyn Backend) {
    fill_and_verify(b, BlockSize::Variable);
}

fn end_of_medium_fixed(b: &mut dyn Backend) {
    fill_and_verify(b, BlockSize::Fixed(512));
}

fn write_protection(b: &mut dyn Backend) {
    write(b, 41, 1000);
    weof(b, 1);
    b.reopen(true);
    b.dev().rewind().unwrap();
    let s = b.dev().status().unwrap();
    assert!(s.write_protected, "{s:?}");
    assert!(matches!(
        b.dev().write_block(&block(42, 1000)),
        Err(TapeError::WriteProtected { .. })
    ));
    assert!(matches!(
        b.dev().write_filemarks(1),
        Err(TapeError::WriteProtected { .. })
    ));
    assert!(matches!(
        b.dev().erase(),
        Err(TapeError::WriteProtected { .. })
    ));
    assert_eq!(tell(b), 0, "refused writes did not move");
    expect_block(b, 41, 1000);
    assert_eq!(read(b), Got::Filemark);
    b.reopen(false);
    assert!(!b.dev().status().unwrap().write_protected);
}

fn unload_and_load(b: &mut dyn Backend) {
    write(b, 51, 1000);
    weof(b, 1);
    b.dev().unload().unwrap();
    let s = b.dev().status().unwrap();
    assert!(!s.online && s.door_open, "after unload: {s:?}");
    let mut buf = vec![0u8; 4096];
    assert!(matches!(
        b.dev().read_block(&mut buf),
        Err(TapeError::NoMedium)
    ));
    assert!(matches!(
        b.dev().write_block(&block(52, 1000)),
        Err(TapeError::NoMedium)
    ));
    assert!(b.dev().tell().is_err(), "no position without a medium");
    b.dev().load().unwrap();
    let s = b.dev().status().unwrap();
    assert!(s.online && s.bot && !s.door_open, "after load: {s:?}");
    assert_eq!(tell(b), 0);
    expect_block(b, 51, 1000);
    assert_eq!(read(b), Got::Filemark);
}

fn erase_leaves_a_blank_tape(b: &mut dyn Backend) {
    write(b, 61, 1000);
    write(b, 62, 1000);
    weof(b, 1);
    b.dev().rewind().unwrap();
    space(b, Space::Fsr, 1);
    b.dev().erase().unwrap();
    b.dev().rewind().unwrap();
    expect_block(b, 61, 1000);
    assert_eq!(read(b), Got::Eod, "erased from block 1 on");
    b.dev().rewind().unwrap();
    b.dev().erase().unwrap();
    b.dev().rewind().unwrap();
    assert_eq!(read(b), Got::Eod, "a blank tape reads as end of data");
    assert_eq!(tell(b), 0);
    b.dev().end_of_data().unwrap();
    assert_eq!(tell(b), 0);
}

fn compression_on_off(b: &mut dyn Backend) {
    for on in [true, false] {
        match b.dev().set_compression(on) {
            Ok(()) => {}
            Err(TapeError::Unsupported { .. }) => {
                println!("  (the drive has no compression control)");
                return;
            }
            Err(e) => panic!("compression {on}: {e}"),
        }
    }
    write(b, 71, 1000);
    b.dev().rewind().unwrap();
    expect_block(b, 71, 1000);
}
