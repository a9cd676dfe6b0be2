//! Hostile input: every truncation and every single-byte change of a small real sample must
//! give either valid pieces or a typed error naming an offset; never a panic, and never an
//! allocation sized by a length field instead of by the bytes present.

mod common;

use mtf::walk::{Event, Mode, Walker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live heap bytes per thread, and the peak, so a test can bound what a walk allocates.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| {
            let v = c.get() + l.size() as isize;
            c.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get() - l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Walks `input` in both modes and checks the invariants; returns the peak heap growth.
fn walk_checked(input: &[u8]) -> isize {
    let base = LIVE.with(|c| c.get());
    PEAK.with(|p| p.set(base));
    // Resync mode: every byte comes out in exactly one event, in order, or the walk ends with a
    // typed error that names an offset.
    let mut covered = 0u64;
    for ev in Walker::new(input) {
        match ev {
            Ok(ev) => {
                assert_eq!(ev.offset(), covered, "events must be contiguous");
                covered += ev.len();
                if let Event::Gap {
                    reason: Some(r),
                    offset,
                    ..
                } = &ev
                {
                    assert!(
                        r.offset().is_some(),
                        "gap at {offset} without an offset: {r}"
                    );
                }
            }
            Err(e) => {
                assert!(e.offset().is_some(), "error without offset: {e}");
                assert!(!e.to_string().is_empty());
                break;
            }
        }
    }
    assert!(covered <= input.len() as u64);
    // Strict mode stops at the first damage with a typed error.
    for ev in Walker::with_mode(input, Mode::Strict) {
        if let Err(e) = ev {
            assert!(e.offset().is_some(), "strict error without offset: {e}");
            break;
        }
    }
    PEAK.with(|p| p.get()) - base
}

fn small_sample() -> Option<Vec<u8>> {
    let dir = common::foreign_dir()?;
    Some(std::fs::read(dir.join("sql2008r2_log_nodata.trn")).expect("small sample"))
}

/// Peak heap during a walk: at most three times the input, plus 1 KiB for the fixed-size
/// read-ahead of a header (52 bytes) that a very short input cannot fill. The three copies are
/// the walker's read buffer, the parsed block's own copy of its header region, and a transient
/// reallocation while the buffer grows; a length field never sizes anything (an SFMB that claims
/// 32 MiB costs only the bytes that are really there).
fn bound(len: usize) -> isize {
    (3 * len + 1024) as isize
}

#[test]
fn truncation_at_every_byte() {
    let Some(data) = small_sample() else { return };
    let mut worst = 0isize;
    for n in 0..=data.len() {
        let peak = walk_checked(&data[..n]);
        assert!(peak <= bound(n), "truncated at {n}: peak {peak}");
        worst = worst.max(peak);
    }
    println!(
        "{} truncations walked; worst peak heap {worst} bytes for a {}-byte input",
        data.len() + 1,
        data.len()
    );
}

#[test]
fn every_single_byte_change_in_the_first_64k() {
    let Some(data) = small_sample() else { return };
    let end = data.len().min(64 * 1024);
    let threads = 2;
    let per = end.div_ceil(threads);
    let worst: isize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let data = &data;
                s.spawn(move || {
                    let mut buf = data.clone();
                    let mut worst = 0isize;
                    for pos in t * per..((t + 1) * per).min(end) {
                        let orig = buf[pos];
                        for v in 0..=255u8 {
                            if v == orig {
                                continue;
                            }
                            buf[pos] = v;
                            let peak = walk_checked(&buf);
                            assert!(
                                peak <= bound(buf.len()),
                                "byte {pos} = {v:#04x}: peak {peak}"
                            );
                            worst = worst.max(peak);
                        }
                        buf[pos] = orig;
                    }
                    worst
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    });
    println!(
        "{} single-byte changes walked; worst peak heap {worst} bytes",
        end * 255
    );
}

#[test]
fn huge_length_fields_do_not_allocate() {
    let Some(mut data) = small_sample() else {
        return;
    };
    // The TAPE block's soft filemark block size claims 65535 * 512 bytes per SFMB.
    data[64..66].copy_from_slice(&u16::MAX.to_le_bytes());
    let c = mtf::checksum::xor16(&data[..50]);
    data[50..52].copy_from_slice(&c.to_le_bytes());
    let peak = walk_checked(&data);
    assert!(peak <= bound(data.len()), "peak {peak}");
    // A stream claims 2^64-1 bytes of data.
    let mut d2 = small_sample().unwrap();
    d2[0x8c + 8..0x8c + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    let c = mtf::checksum::xor16(&d2[0x8c..0x8c + 20]);
    d2[0x8c + 20..0x8c + 22].copy_from_slice(&c.to_le_bytes());
    let peak = walk_checked(&d2);
    assert!(peak <= bound(d2.len()), "peak {peak}");
    let err = Walker::new(&d2[..])
        .find_map(|e| e.err())
        .expect("truncated stream");
    assert!(
        matches!(
            err,
            mtf::Error::Truncated {
                what: "stream data",
                ..
            }
        ),
        "{err}"
    );
}

/// Fuzz finding (walk_chunked): in the byte-exact mode of the one framer, the bytes passed over
/// in a long damaged run were collected in a vector that doubled, and the walk of this 16 KiB
/// input peaked at 65,355 bytes of heap, past the target's bound of twice the input plus three
/// read steps and 4 KiB. The input's first 4 bytes are the target's read schedule.
#[test]
fn a_long_damaged_run_is_held_about_once() {
    let data = include_bytes!(
        "../../fuzz/regressions/walk_chunked/walk-passed-bytes-doubled-past-the-heap-bound"
    );
    let medium = &data[4..];
    let peak = walk_checked(medium);
    let fuzz_bound = 2 * medium.len() as isize + 3 * mtf::walk::READ_STEP as isize + 4096;
    assert!(
        peak <= fuzz_bound,
        "peak heap {peak} for a {}-byte input (bound {fuzz_bound})",
        medium.len()
    );
}
