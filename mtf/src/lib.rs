//! Microsoft Tape Format (MTF 1.00a): a byte-exact codec for descriptor blocks and streams.
//!
//! Layers, from the bottom:
//! - [`spec`]: the vocabulary (type codes, attribute bits, sizes), nothing else;
//! - [`header`], [`block`], [`stream`]: parse and write each structure, side by side. Every
//!   structure has a *raw* writer (exactly what the struct holds, for round trips and for crafting
//!   bad input) and a *fixed* writer (recomputes checksums, offsets, lengths and padding);
//! - [`walk`]: cuts a medium into blocks, streams, data and gaps, and writes them back.
//!
//! Parsing never panics on hostile input and never allocates more than the input holds: every
//! length field is checked against the bytes actually present before anything is reserved.

#![forbid(unsafe_code)]

pub mod block;
pub mod checksum;
pub mod date;
pub mod error;
pub mod header;
pub mod os_data;
mod parse;
pub mod reader;
pub mod spec;
pub mod sqlserver;
pub mod stream;
pub mod text;
pub mod walk;
pub mod writer;

/// The software name this library's writer records on its media (TAPE block), unless told
/// otherwise: this project's own name and version.
pub const SOFTWARE_NAME: &str = concat!("mtf (Rust) ", env!("CARGO_PKG_VERSION"));

pub use block::{Body, Dblk};
pub use date::{DateTime, MtfDateTime};
pub use error::{Error, Result};
pub use header::DbHeader;
pub use spec::{BlockType, StreamId};
pub use stream::StreamHeader;
pub use text::{MtfText, TapeAddress};
