//! Shared pieces of the fuzz targets: a reader that hands out odd-sized pieces, a counting
//! allocator to bound what a parse allocates, and a comparable summary of walk events.

pub mod medium;

use mtf::walk::{Event, Mode, Walker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Counts live heap bytes and their peak, so a target can bound what a parse allocates, and
/// aborts (a finding) on any single allocation above [`MALLOC_LIMIT`], with or without a
/// sanitizer (libFuzzer's own `-malloc_limit_mb` needs one).
pub struct Counting;

/// Largest single allocation a target may make: the inputs are at most 64 KiB (`-max_len`), so
/// anything near this is sized by a field, not by the bytes present. `run.sh` passes the same
/// figure to libFuzzer as `-malloc_limit_mb`.
pub const MALLOC_LIMIT: usize = 64 << 20;

fn check_size(size: usize) {
    if size > MALLOC_LIMIT {
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(b"==ERROR: allocation above MALLOC_LIMIT (64 MiB): sized by a field?\n");
        std::process::abort();
    }
}

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        check_size(l.size());
        let v = LIVE.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(v, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        check_size(l.size());
        let v = LIVE.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(v, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        check_size(new);
        let grow = new as isize - l.size() as isize;
        let v = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
        PEAK.fetch_max(v, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the peak heap growth while it ran.
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed) - base)
}

/// A reader over bytes that returns between 1 and N bytes per call, following a schedule (the
/// sizes are used in turn, cycling). An empty schedule means one byte at a time.
pub struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl<'a> Chunked<'a> {
    /// `schedule` bytes are read sizes; 0 counts as 1.
    pub fn new(data: &'a [u8], schedule: &[u8]) -> Self {
        Chunked {
            data,
            sizes: schedule.iter().map(|&b| (b as usize).max(1)).collect(),
            next: 0,
        }
    }

    /// Like [`Chunked::new`], with sizes scaled up: each schedule byte `b` reads
    /// `1 + b * step` bytes at most (odd sizes around block boundaries).
    pub fn scaled(data: &'a [u8], schedule: &[u8], step: usize) -> Self {
        Chunked {
            data,
            sizes: schedule.iter().map(|&b| 1 + b as usize * step).collect(),
            next: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = if self.sizes.is_empty() {
            1
        } else {
            let s = self.sizes[self.next % self.sizes.len()];
            self.next += 1;
            s
        };
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One walk event reduced to what must not depend on how the input was read: its kind, offset,
/// and exact bytes (for a cut stream, the remaining length), or the error's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Ev {
        kind: &'static str,
        offset: u64,
        bytes: Vec<u8>,
        extra: u64,
    },
    Err(String),
}

/// Walks `src` to the end in `mode` and checks the walk's invariants against `input` (the bytes
/// `src` yields): events are contiguous from offset 0, their bytes are exactly the input's
/// prefix, a walk that ends without an error has accounted for every byte, and every error
/// names an offset. Returns the pieces.
pub fn walk_checked<R: Read>(src: R, mode: Mode, input: &[u8]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut covered = 0u64;
    let mut errored = false;
    for ev in Walker::with_mode(src, mode) {
        match ev {
            Ok(ev) => {
                assert_eq!(ev.offset(), covered, "events must be contiguous");
                let mut bytes = Vec::new();
                ev.write_raw(&mut bytes).expect("write to a Vec");
                assert_eq!(bytes.len() as u64, ev.len(), "event length");
                let at = covered as usize;
                assert_eq!(
                    &input[at..at + bytes.len()],
                    &bytes[..],
                    "event at {at} does not give back the input"
                );
                covered += ev.len();
                let (kind, extra) = match &ev {
                    Event::Block { .. } => ("block", 0),
                    Event::Stream { .. } => ("stream", 0),
                    Event::Data { .. } => ("data", 0),
                    Event::Pad { .. } => ("pad", 0),
                    Event::Gap { reason, .. } => {
                        if let Some(r) = reason {
                            assert!(r.offset().is_some(), "gap reason without offset: {r}");
                        }
                        ("gap", reason.is_some() as u64)
                    }
                    Event::StreamCut { remaining, .. } => ("cut", *remaining),
                };
                out.push(Piece::Ev {
                    kind,
                    offset: ev.offset(),
                    bytes,
                    extra,
                });
            }
            Err(e) => {
                assert!(e.offset().is_some(), "error without an offset: {e}");
                out.push(Piece::Err(e.to_string()));
                errored = true;
                break;
            }
        }
    }
    if !errored {
        assert_eq!(
            covered,
            input.len() as u64,
            "a clean walk must cover the input"
        );
    }
    out
}

/// Names that try to leave the extraction directory or confuse a path, for the extract target.
/// `@ROOT@` stands for the sandbox's own root, so an absolute name that escaped would land where
/// the target can see it.
pub const HOSTILE_NAMES: &[&str] = &[
    "..",
    ".",
    "../escaped",
    "..\\escaped",
    "../../escaped",
    "a/../../escaped",
    "/escaped",
    "\\escaped",
    "@ROOT@/escaped",
    "@ROOT@",
    "C:escaped",
    "C:\\escaped",
    "c:/escaped",
    "\\\\server\\share\\escaped",
    "esc\0aped",
    "\0",
    "..\0",
    "escaped\0/../..",
    "",
    " ",
    "..\u{2215}escaped",
    "\u{FF0E}\u{FF0E}\u{FF0F}escaped",
    "\u{202E}depacse",
    "e\u{301}scaped",
    "\u{FEFF}..",
    "CON",
    "aux.txt",
    "con:",
    "escaped:stream",
    "..:",
    "\u{0}..",
    "...",
    "....//escaped",
];
