//! How far a long backup or restore has got, for whoever shows it: the library prints nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes done of a total, shared between the backup or restore that counts them and the
/// caller that shows them (a clone shares the counters; read them from any thread).
///
/// The count costs one atomic add per buffer of data (up to a stripe chunk, or a 64 KiB
/// piece off the media), never one per page. `done` only grows. At the end of a backup or
/// restore that succeeded, `done == total`:
/// - a backup's total is known before it starts: the bytes of the pages it copies, plus its
///   log (estimated from the log's end when the backup starts, and made exact once the pages
///   are copied, when the set's log range is fixed);
/// - a restore's total is the sizes of the set's files as their FILE blocks announce them
///   (the pages of each data file, the log, the header), so it grows as the families' files
///   are met; a file read again from a mirror's copy adds what was read twice. It cannot be
///   known at the start: the MSCI block before the data lists each data file's pages, but
///   the log's length is fixed by the backup only after the pages are copied (the MSCI
///   written before them records none), and first appears in the log's own FILE block.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes done so far.
    pub fn done(&self) -> u64 {
        self.0.done.load(Ordering::Relaxed)
    }

    /// The bytes to do, as far as they are known.
    pub fn total(&self) -> u64 {
        self.0.total.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_total(&self, n: u64) {
        self.0.total.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_total(&self, n: u64) {
        self.0.total.store(n, Ordering::Relaxed);
    }
}

/// A reader that counts what it hands out (one atomic add per read call).
pub(crate) struct Counted<'a, R> {
    pub(crate) inner: R,
    pub(crate) progress: Option<&'a Progress>,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        if let Some(p) = self.progress {
            p.add(n as u64);
        }
        Ok(n)
    }
}
