//! Media sets and families (striping, continuation media, append/overwrite safety checks) on top
//! of `mtf` and `tape-sys`, and the reference engine that produces backup streams.
//!
//! Skeleton only: nothing here is implemented yet; the media-set issues build it.

pub mod engine;
