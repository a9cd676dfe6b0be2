//! The streaming walker over a reader that hands out 1..N bytes per call (the sizes come from
//! the input), in both modes. Reading in odd pieces must not change a single event: the pieces
//! (kind, offset, bytes) and the closing error are the same as when the walker reads the whole
//! input at once. Every byte comes out in exactly one event, in order; a walk that ends without
//! an error has covered the input; the heap stays within a small multiple of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtf::walk::{Mode, Walker, READ_STEP};
use mtf_fuzz::{peak_heap, walk_checked, Chunked};

fuzz_target!(|data: &[u8]| {
    // Byte 0: mode, scaling and schedule length; then the schedule; then the medium.
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
    // Small pieces, or pieces around the 512-byte resync step and the walker's read step.
    let step = match ctl >> 5 {
        0..=3 => 0,
        4 | 5 => 61,
        _ => 509,
    };

    // The walk alone (events dropped as they come), as the hostile-input tests bound it.
    let ((), peak) = peak_heap(|| {
        for ev in Walker::with_mode(medium, mode) {
            if ev.is_err() {
                break;
            }
        }
    });
    // The byte-exact walk holds a damaged run's bytes until its gap event is handed out (one
    // event per run, whatever the read sizes), beside its read buffer: two copies of the input
    // and the growth of the run's vector (half again at most), plus read steps and headers.
    // Handing a long run out in bounded pieces would bring this back to two copies.
    let bound = 3 * medium.len() as isize + 3 * READ_STEP as isize + 4096;
    assert!(
        peak <= bound,
        "peak heap {peak} for a {}-byte input",
        medium.len()
    );
    let whole = walk_checked(medium, mode, medium);
    let src = if step == 0 {
        Chunked::new(medium, schedule)
    } else {
        Chunked::scaled(medium, schedule, step)
    };
    let pieces = walk_checked(src, mode, medium);
    assert_eq!(whole, pieces, "reading in pieces changed the walk");
});
