//! The reference engine: a small, real, durable key-value database whose purpose is to produce
//! and consume the backup streams that the reference documents describe.
//!
//! It is built the way the documents describe a database engine, and the way ARIES describes
//! recovery, so that every backup and restore concept has something real to act on:
//!
//! - **Files and filegroups** ([`file`](mod@file)): a database directory holds the data files
//!   of its filegroups (`primary.mdf`, `NAME.ndf` for each further filegroup, `LOGICAL.ndf` for
//!   each further file of a filegroup) and one log file (`log.ldf`). Each data file has an id
//!   (the `FILE` of a `FILE:PAGE` address) and a logical name; [`Database::data_files`] lists
//!   them with their paths and lengths. A filegroup can be read-only. Each filegroup holds one
//!   key-value table, whose pages are taken from its files in turn.
//! - **Pages** ([`page`]): 8 KiB, each with its page id, the LSN of the last log record applied
//!   to it and a CRC-32C, so a torn or rotten page is found when it is read. Pages are grouped in
//!   extents of 8; a file is cut into intervals of up to 880 extents (55 MiB), each described
//!   by an allocation map page at a fixed place ([`alloc`]), which says which pages are in use
//!   and, per extent, the newest LSN that changed it: a differential backup asks "which extents
//!   changed since LSN x?" without reading the data. A file grows by an interval (and a map)
//!   when its maps are full, up to `u32` pages.
//! - **The log** ([`wal`]): records with LSNs (byte positions in the log stream), transaction
//!   ids, previous-LSN links, commit timestamps and a CRC. Commits are acknowledged only after
//!   `fsync`; concurrent commits share one `fsync` (group commit). A torn tail is cut at the last
//!   whole record when the database opens.
//! - **Transactions** ([`db`]): begin, commit, rollback, strict two-phase key locks
//!   ([`lock`], which finds a deadlock when it forms, from the wait-for graph), a bounded
//!   buffer pool ([`buffer`]) that may write uncommitted pages (steal) and does not write
//!   pages at commit (no-force), a B+tree per table ([`btree`]).
//! - **Checkpoints and recovery** ([`recovery`]): fuzzy checkpoints record the dirty page table
//!   and the active transaction table; recovery runs analysis, redo (skipping pages whose page
//!   LSN is already newer) and undo with compensation log records, so a crash during undo is
//!   safe. The first change to a clean page logs the page's full image, so a page torn by a
//!   crash in the middle of its write is repaired from the log.
//! - **Recovery models** ([`db::RecoveryModel`]): simple, full, bulk-logged, with the log
//!   truncation rules of each, and the hooks a backup calls ([`Database::note_full_backup`],
//!   [`Database::note_log_backup`], [`Database::read_log`], [`Database::changed_extents`],
//!   [`Database::bulk_changed_extents`], [`Database::start_recovery_fork`]). As the reference
//!   documents say, log backups need a database backup to follow on from: under full or
//!   bulk-logged the log is kept from the first full backup on (the "log chain"); before it,
//!   and after a switch to simple, the log is truncated at checkpoints like under simple.
//! - **Consistency check** ([`check`]): page checksums, allocation maps against the pages, the
//!   index against its rows, and a content digest of the visible rows.
//!
//! What is deliberately simple: a filegroup's files are filled in turn, page by page, rather
//! than in proportion to their free space; files grow (one interval at a time) but never
//! shrink, and the interval is fixed when the database is created; no page merges after
//! deletes (an emptied leaf stays in its tree); one engine-wide latch around page work
//! (transactions still run concurrently, waiting only on each other's key locks and sharing
//! log flushes); a deadlock's victim is the transaction whose wait closes the cycle (not the
//! cheapest to roll back); a bulk load rebuilds its whole table (a non-empty one too) and is
//! refused while any transaction has changes in flight (rather than waiting for a table lock).
//! Truncating the log rewrites its active part into a new file that replaces the old one
//! atomically (SQL Server reuses virtual log files in place instead).
//!
//! Crash tests: `examples/tests/refdb_crash.rs` kills `refdb workload` processes at random
//! points and through [`crash`]'s injected crash points, and compares what recovery leaves
//! with the commits the workload acknowledged.

pub mod alloc;
pub mod btree;
pub mod buffer;
pub mod check;
pub(crate) mod codec;
pub mod crash;
pub mod db;
pub mod file;
pub mod lock;
pub mod page;
pub mod recovery;
pub mod time;
pub mod wal;

pub use check::CheckReport;
pub use db::{
    CreateOptions, DataFileSpec, DataFileStatus, Database, DbInfo, FilegroupSpec, RecoveryModel,
    Txn,
};
pub use file::{DataFileInfo, FilegroupInfo};
pub use page::PageId;
pub use wal::{LogRecord, Lsn, RecordBody};

use std::path::PathBuf;

/// Everything that can go wrong in the engine. Errors that concern a file name it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while working on a file or directory.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read page 3 of", "fsync", ...).
        op: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Bytes on disk that are not what this engine wrote: a foreign or damaged file.
    #[error("{path}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the page or offset.
        what: String,
    },
    /// The caller asked for something the database cannot do.
    #[error("{0}")]
    Invalid(String),
    /// A key lock could not be had in time (the transaction should roll back).
    #[error("lock wait timed out on key {key:?} (transaction {txn})")]
    LockTimeout {
        /// The waiting transaction.
        txn: u64,
        /// The key, lossily printed.
        key: String,
    },
    /// Waiting for a key lock would close a cycle of transactions waiting for each other
    /// (the transaction should roll back, and may be retried).
    #[error("deadlock: transaction {txn} waiting for key {key:?} would wait for itself; roll back and retry")]
    Deadlock {
        /// The transaction chosen to give way (the one whose wait closed the cycle).
        txn: u64,
        /// The key, lossily printed.
        key: String,
    },
    /// A data file is full (it has as many allocation map intervals as `u32` page numbers
    /// allow).
    #[error("{path}: data file full ({pages} pages)")]
    FileFull {
        /// The file.
        path: PathBuf,
        /// Its page capacity.
        pages: u32,
    },
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(
        op: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}
