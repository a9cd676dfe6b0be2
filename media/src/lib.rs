//! Media sets and families (striping, continuation media, append/overwrite safety checks) on top
//! of `mtf` and `tape-sys`, and the reference engine that produces backup streams.
//!
//! - [`history`]: the backup history (a durable catalog like msdb, SQLite by default) and its
//!   import from media and from msdb exports;
//! - [`plan`]: the restore planner over that history;
//! - [`engine`]: the reference engine (pages, write-ahead log, ARIES recovery, recovery models)
//!   whose backups the media layer will carry.

pub mod engine;
pub mod history;
pub mod plan;
