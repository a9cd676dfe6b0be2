//! Microsoft Tape Format (MTF 1.00a): a byte-exact codec, a streaming reader and a writer for
//! the media of NTBackup (`.bkf`), SQL Server (`.bak`, `.trn`) and other MTF software.
//!
//! # Which API for which job
//!
//! | job | API |
//! | --- | --- |
//! | walk the bytes: every block, stream, pad and damaged range, written back byte for byte | [`walk::Walker`] |
//! | read the data sets of a medium (like `RESTORE HEADERONLY`) | [`reader::list_sets`] |
//! | list what a set holds: volumes, directories, files and their streams | [`reader::Reader`] events |
//! | verify: every header and stream, CSUM checksums, damage | [`reader::Reader`] events with [`stream::Csum`] |
//! | extract a file's data | [`reader::Reader::copy_data`] / [`reader::Reader::read_data`] |
//! | write a medium | [`writer::Writer`] |
//! | append a set to a medium | [`writer::AppendPoint::scan`] then [`writer::Writer::append`] |
//!
//! The examples below build a small medium in memory with the writer and read it back.
//!
//! ```
//! # fn medium() -> Vec<u8> {
//! use mtf::writer::{EntryMeta, MediumOptions, MemorySink, SetOptions, VolumeOptions, Writer};
//! use mtf::DateTime;
//!
//! // Write: one set, one volume, the root directory, one file.
//! let when = DateTime::from_unix(1_700_000_000).unwrap();
//! let mut w = Writer::new(MemorySink::default(), MediumOptions::new("media", 7, when)).unwrap();
//! let mut set = SetOptions::new("nightly", when);
//! set.checksums = true; // a CSUM stream after the file's data
//! w.begin_set(set).unwrap();
//! w.add_volume(&VolumeOptions { device: "C:".into(), ..Default::default() }).unwrap();
//! let meta = EntryMeta::with_dates(Some(when), when);
//! w.add_directory::<&str>(&[], &meta).unwrap();
//! w.add_file("hello.txt", &meta, 6, &mut &b"hello\n"[..]).unwrap();
//! w.end_set().unwrap();
//! let bytes = w.finish().unwrap().data;
//! # bytes }
//! # let bytes = medium();
//! assert!(bytes.starts_with(b"TAPE"));
//! ```
//!
//! Walk the bytes (the round trip: every byte comes out in exactly one event):
//!
//! ```
//! # let bytes: Vec<u8> = include!("../doc/medium.rs");
//! use mtf::walk::Walker;
//! let mut back = Vec::new();
//! for ev in Walker::new(&bytes[..]) {
//!     ev.unwrap().write_raw(&mut back).unwrap();
//! }
//! assert_eq!(back, bytes);
//! ```
//!
//! Read the sets (from the catalog where the medium has one, else by a scan):
//!
//! ```
//! # let bytes: Vec<u8> = include!("../doc/medium.rs");
//! use mtf::reader::{list_sets, Reader, SeekSource};
//! let listing = list_sets(Reader::new(SeekSource::new(std::io::Cursor::new(&bytes)))).unwrap();
//! assert_eq!(listing.sets.len(), 1);
//! let set = &listing.sets[0];
//! assert!(set.is_complete());
//! assert_eq!(set.sset().data_set_number, 1);
//! ```
//!
//! List, verify and extract: one pass over the reader's events. Stream data is read only when
//! asked for (else it is skipped, by seeking where the source can); a CSUM stream holds the
//! XOR-32 of the stream before it.
//!
//! ```
//! # let bytes: Vec<u8> = include!("../doc/medium.rs");
//! use mtf::reader::{Event, Reader, SeekSource};
//! use mtf::stream::Csum;
//! use mtf::{Body, StreamId};
//! let mut r = Reader::new(SeekSource::new(std::io::Cursor::new(&bytes)));
//! let (mut files, mut damage, mut csums_ok) = (Vec::new(), 0, 0);
//! let mut last_data = Vec::new();
//! let mut string_type = mtf::spec::StringType::NONE;
//! while let Some(ev) = r.next_event().unwrap() {
//!     match ev {
//!         Event::Block { dblk, .. } => {
//!             string_type = dblk.header.string_type;
//!             if let Body::File(f) = &dblk.body {
//!                 files.push(f.file_name.display(string_type)); // list
//!             }
//!         }
//!         Event::Stream { header, .. } if header.id == StreamId::STAN => {
//!             last_data.clear();
//!             r.copy_data(&mut last_data).unwrap(); // extract
//!         }
//!         Event::Stream { header, .. } if header.id == StreamId::CSUM => {
//!             let stored = Csum::decode(&r.read_data_to_vec(64).unwrap().unwrap()).unwrap();
//!             assert!(stored.matches(&last_data)); // verify
//!             csums_ok += 1;
//!         }
//!         Event::Damage(_) => damage += 1,
//!         _ => {}
//!     }
//! }
//! assert_eq!(files, ["hello.txt"]);
//! assert_eq!(last_data, b"hello\n");
//! assert_eq!((damage, csums_ok), (0, 1));
//! ```
//!
//! Append a set after the ones a medium holds:
//!
//! ```
//! # let bytes: Vec<u8> = include!("../doc/medium.rs");
//! use mtf::writer::{AppendPoint, MemorySink, NoMoreMedia, SetOptions, Writer};
//! let point = AppendPoint::scan(&bytes[..]).unwrap();
//! let mut sink = MemorySink { data: bytes.clone(), ..Default::default() };
//! sink.data.truncate(point.offset as usize);
//! let mut w = Writer::append(sink, point, NoMoreMedia).unwrap();
//! w.begin_set(SetOptions::new("second", mtf::DateTime::from_unix(1_700_000_100).unwrap())).unwrap();
//! w.end_set().unwrap();
//! let both = w.finish().unwrap().data;
//! let sets = mtf::reader::list_sets(mtf::reader::Reader::new(mtf::reader::SeekSource::new(
//!     std::io::Cursor::new(&both),
//! )))
//! .unwrap()
//! .sets;
//! assert_eq!(sets.len(), 2);
//! ```
//!
//! # Layers
//!
//! From the bottom:
//! - [`spec`]: the vocabulary (type codes, attribute bits, sizes, the framing rules' constants
//!   and the end-of-medium mark), nothing else;
//! - [`header`], [`block`], [`stream`]: parse and write each structure, side by side. Every
//!   structure has a *raw* writer (exactly what the struct holds, for round trips and for crafting
//!   bad input) and a *fixed* writer (recomputes checksums, offsets, lengths and padding);
//! - [`reader`]: the one framer: blocks, streams, filemarks and damage from any block source
//!   (files, pipes, tapes), with the media header, set listing and media sets on top;
//! - [`walk`]: the reader's byte-exact mode, which hands out every byte;
//! - [`writer`]: whole media, appending and continuation.
//!
//! Parsing never panics on hostile input and never allocates more than the input holds: every
//! length field is checked against the bytes actually present before anything is reserved.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod block;
pub mod checksum;
pub mod date;
mod encode;
pub mod error;
pub mod extract;
pub mod fileio;
pub mod header;
pub mod os_data;
mod parse;
pub mod reader;
pub mod spec;
pub mod sqlserver;
pub mod stream;
pub mod text;
pub mod verify;
pub mod walk;
mod workers;
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
