//! Reading one medium: a streaming reader over any block source, the media header, the data
//! sets with their boundaries. Several media read as one media set (families, continuation
//! media, sets matched across them) are the `media` crate's (`media::set::group`).
//!
//! - [`source`]: the [`BlockSource`] trait (a tape's blocks and filemarks, or a file's bytes)
//!   and its implementations for files, seekable readers and pipes;
//! - [`core`]: [`Reader`], the event stream (blocks, streams, filemarks, damage) with bounded
//!   memory, data skipped by seeking where the source can seek, resync after damage;
//! - [`listing`]: the media header (LABELONLY) and the data sets of one medium (HEADERONLY),
//!   from the soft filemark catalog when there is one;

pub mod core;
pub mod listing;
pub mod source;

pub use self::core::{Damage, Event, MediumParams, Reader};
pub use self::listing::{
    list_sets, read_media_header, CapturedBlock, CapturedStream, DamageInfo, ListMethod, Listing,
    MediaHeader, SetEntry,
};
pub use self::source::{BlockRead, BlockSource, FileSource, SeekSource, StreamSource};
pub use crate::walk::Mode;
