//! Crash-point injection for the crash tests: the process stops dead (`abort`) at a chosen
//! event, so a test can crash a workload in the middle of a checkpoint, of a page write or of
//! an undo, reliably instead of by luck.
//!
//! Set `REFDB_CRASH=KIND:N` (read once per process) to stop at the Nth event of that kind:
//! - `fsync:N` before the Nth log `fsync` (log bytes written but not yet durable);
//! - `pagewrite:N` before the Nth data page write;
//! - `torn:N` in the Nth data page write after only its first half reached the file;
//! - `ckpt:N` in the Nth checkpoint, after its first page write;
//! - `undo:N` after the Nth compensation record, once the log holds it durably;
//! - `restore:N` after the Nth step of a restore from backup (a data file finished, a log
//!   record written into the target, a differential's pages or its log put in place, the
//!   pages of a standby put back), for the tests of
//!   `restore --restart` and `--standby`.
//!
//! Without the variable every check is one relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The kinds of event a crash can be injected at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// A log fsync.
    Fsync,
    /// A data page write.
    PageWrite,
    /// A data page write that is torn (half written).
    Torn,
    /// A checkpoint, after its first page write.
    Checkpoint,
    /// A compensation log record written by undo.
    Undo,
    /// A step of a restore from backup (`media::dbbackup`).
    Restore,
}

static COUNT: AtomicU64 = AtomicU64::new(0);

fn target() -> Option<(Point, u64)> {
    static T: OnceLock<Option<(Point, u64)>> = OnceLock::new();
    *T.get_or_init(|| {
        let v = std::env::var("REFDB_CRASH").ok()?;
        let (k, n) = v.split_once(':')?;
        let p = match k {
            "fsync" => Point::Fsync,
            "pagewrite" => Point::PageWrite,
            "torn" => Point::Torn,
            "ckpt" => Point::Checkpoint,
            "undo" => Point::Undo,
            "restore" => Point::Restore,
            _ => return None,
        };
        Some((p, n.parse().ok()?))
    })
}

/// Counts an event; true when this is the one to crash at. `Torn` shares the page-write count.
pub fn hit(p: Point) -> bool {
    let Some((want, n)) = target() else {
        return false;
    };
    let counted = match (want, p) {
        (Point::Torn, Point::PageWrite) => true,
        (a, b) => a == b,
    };
    counted && COUNT.fetch_add(1, Ordering::Relaxed) + 1 == n
}

/// Whether the page write that `hit` just selected should be torn rather than skipped.
pub fn tearing() -> bool {
    matches!(target(), Some((Point::Torn, _)))
}

/// Stops the process the way a power cut would stop it: no destructors, no flushing.
pub fn die() -> ! {
    eprintln!("refdb: injected crash ({:?})", target().map(|t| t.0));
    std::process::abort()
}

/// Crashes here if this event is the chosen one.
pub fn point(p: Point) {
    if hit(p) {
        die();
    }
}
