//! The library behind the example programs: `mtfdump` (inspect any MTF medium) and `mt` (drive
//! control). Everything prints to an `impl Write`, so tests and other programs can call it;
//! the one exception is [`progress`], the progress line drawn on stderr when it is a terminal.

pub mod dump;
pub mod pack;
pub mod packset;
pub mod progress;
pub mod refdb;
pub mod refdb_media;
pub mod roundtrip;
