//! Media sets and families (striping, continuation media, append/overwrite safety checks) on top
//! of `mtf` and `tape-sys`, and the reference engine that produces backup streams.
//!
//! - [`history`]: the backup history (a durable catalog like msdb, SQLite by default) and its
//!   import from media and from msdb exports;
//! - [`plan`]: the restore planner over that history.

pub mod history;
pub mod plan;
