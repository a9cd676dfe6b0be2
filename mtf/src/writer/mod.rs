//! Writing whole MTF media: media header, data sets with volumes, directories and files, the
//! end-of-set catalog, soft or hardware filemarks, and the end-of-media procedure with
//! continuation onto the next medium.
//!
//! The shape follows tar-rs's `Builder`: create a [`Writer`] over a [`BlockSink`], add entries,
//! finish. Everything goes out in whole physical blocks; DBLKs start on FLB boundaries (from the
//! start of the medium); SPAD pads each DBLK to the next FLB, and where a filemark follows, an
//! ESPB pads on to the physical block boundary. Media without hardware filemarks get SFMB soft
//! filemarks, each one physical block, listing the earlier filemarks.
//!
//! Layout choices (the spec leaves room; each is what a spec-following reader expects):
//! - The physical block size is recorded as the TAPE block's soft filemark block size, so a
//!   reader and a later append know it, on tape as on disk.
//! - Physical block addresses (SSET, ESET catalog fields, SFMB tables, EOTM) count physical
//!   blocks from the start of the medium, as the spec says (SQL Server writes byte offsets).
//! - The FDD stream's FEND entry is followed by zeros up to the next physical block, so the set
//!   map stream starts on a physical block boundary as the spec's Type 1 layout asks; the FDD
//!   stream itself follows the first ESET's header directly.
//! - On a continuation medium, the repeated SSET/VOLB/DIRB/FILE take the FLAs just before the
//!   split point, each padded to one FLB, so the PBA formula holds on every medium.

mod append;
mod block_buf;
mod catalog;
mod entries;
mod layout;
mod media;
mod options;
mod set;
mod sink;

pub use options::*;
pub use sink::*;

use crate::block::Dirb;
use crate::block::{Body, Dblk, Eotm, Eset, File, Sfmb, SfmbLayout, Sset, Tape, Volb};
use crate::checksum::FastXor32;
use crate::date::MtfDateTime;
use crate::error::{Error, Result};
use crate::os_data::OsData;
use crate::spec::{
    align_up, mbc_type, BlockAttributes, BlockType, DirectoryAttributes, FileAttributes, OsId,
    StreamId, StreamMediaAttributes, StringType, TapeAttributes, VolumeAttributes, DB_HDR_LEN,
    MAX_DBLK_LEN, SOFT_FILEMARK_UNIT, STREAM_HDR_LEN,
};
use crate::stream::StreamHeader;
use crate::text::{join_dir_path, MtfText};
use std::io::{self, Read};

pub use catalog::SetRecord;
pub use entries::FileOutcome;

/// Small streams written with their block, such as a PNAM or FNAM holding a long name; a
/// continuation medium repeats them with the block.
type NameStreams = Vec<(StreamId, Vec<u8>)>;

/// Largest physical block size the writer accepts: 512 KiB. The TAPE block could record up to
/// 65535 × 512 bytes, but the reader ([`crate::reader::Reader`]) buffers at most a quarter of
/// its 2 MiB window per soft filemark block, and a medium this library writes must be one it
/// reads (raise both together).
pub const MAX_BLOCK_SIZE: usize = 1024 * SOFT_FILEMARK_UNIT;

/// What the writer knows about a medium it continues to write (an append).
#[derive(Clone, Debug)]
pub struct AppendPoint {
    /// The medium's TAPE block fields.
    pub tape: Tape,
    /// String type of the TAPE block.
    pub string_type: StringType,
    /// Byte offset where the next data set starts (just after the last set's closing filemark).
    pub offset: u64,
    /// PBAs of the filemarks already on the medium, oldest first.
    pub filemarks: Vec<u64>,
    /// Soft filemarks already written in the family (their control block ids run on).
    pub soft_filemarks: u32,
    /// The sets already in the family, for the cumulative set map.
    pub sets: Vec<SetRecord>,
}

/// The open data set.
struct OpenSet {
    opts: SetOptions,
    number: u16,
    cbid: u32,
    /// Position on the current medium where FLA 0 of the set would lie.
    fla_origin: u64,
    /// PBA of the SSET on its first medium.
    sset_sequence: u16,
    volb: Option<Dblk>,
    /// The current directory's DIRB and its name stream (PNAM when the path is too long for
    /// the block), repeated together on a continuation medium.
    dirb: Option<(Dblk, NameStreams)>,
    next_dir_id: u32,
    next_file_id: u32,
    dir_id: u32,
    record: SetRecord,
    fdd: catalog::FddBuilder,
}

/// Writes MTF media to a [`BlockSink`].
pub struct Writer<S: BlockSink, M: MediaSupplier<S> = NoMoreMedia> {
    sink: Option<S>,
    media: M,
    opts: MediumOptions,
    block_size: usize,
    block: block_buf::BlockBuf,
    /// Bytes on the current medium, including the partial block in `block`.
    pos: u64,
    sequence: u16,
    filemarks: Vec<u64>,
    soft_filemarks: u32,
    early_warning: bool,
    next_set_number: u16,
    sets: Vec<SetRecord>,
    set: Option<OpenSet>,
    /// PBA of the second ESET of the last set completed on the current medium.
    last_eset_pba: Option<u64>,
    /// Why the writer cannot go on (a medium change failed): every later call says so.
    failed: Option<String>,
}

/// Summary of a finished data set.
pub type SetSummary = SetRecord;

impl<S: BlockSink> Writer<S, NoMoreMedia> {
    /// Formats a new medium: writes the TAPE block and its filemark.
    pub fn new(sink: S, opts: MediumOptions) -> Result<Self> {
        Writer::with_media(sink, opts, NoMoreMedia)
    }
}

impl<S: BlockSink, M: MediaSupplier<S>> Writer<S, M> {
    /// Formats a new medium, with a supplier for continuation media.
    pub fn with_media(sink: S, opts: MediumOptions, media: M) -> Result<Self> {
        let block_size = opts.block_size.unwrap_or(if sink.has_filemarks() {
            DEFAULT_TAPE_BLOCK_SIZE
        } else {
            DEFAULT_FILE_BLOCK_SIZE
        });
        check_layout(opts.flb_size, block_size)?;
        mtf_date(opts.media_date, "media date")?;
        if opts.string_type != StringType::ANSI && opts.string_type != StringType::UNICODE {
            // Names, paths and labels would be written as nothing: refuse rather than lose them.
            return Err(Error::Encode {
                field: "string type",
                reason: format!(
                    "{} cannot hold names: use ANSI (1) or Unicode (2)",
                    opts.string_type.0
                ),
            });
        }
        let mut w = Writer {
            sink: Some(sink),
            media,
            opts,
            block_size,
            block: block_buf::BlockBuf::new(block_size),
            pos: 0,
            sequence: 1,
            filemarks: Vec::new(),
            soft_filemarks: 0,
            early_warning: false,
            next_set_number: 1,
            sets: Vec::new(),
            set: None,
            last_eset_pba: None,
            failed: None,
        };
        w.write_media_header(false)?;
        Ok(w)
    }

    /// Continues a medium that already holds data sets. `sink` must be positioned at
    /// `point.offset` (for a file: opened for writing and seeked there, or a
    /// [`FileSink::resume`]d one). Set numbers continue after the existing sets.
    pub fn append(sink: S, point: AppendPoint, media: M) -> Result<Self> {
        let t = &point.tape;
        let block_size = t.soft_filemark_bytes();
        check_layout(t.format_logical_block_size, block_size)?;
        if point.offset % block_size as u64 != 0 {
            return Err(Error::invalid(
                0,
                "append offset",
                format!("{} is not on a physical block boundary", point.offset),
            ));
        }
        let st = point.string_type;
        let opts = MediumOptions {
            flb_size: t.format_logical_block_size,
            block_size: Some(block_size),
            media_name: t.media_name.display(st),
            media_description: t.media_description.display(st),
            media_family_id: t.media_family_id,
            software_name: t.software_name.display(st),
            software_vendor_id: t.software_vendor_id,
            media_date: t.media_date.to_datetime().unwrap_or(crate::date::DateTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            }),
            // A TAPE block without strings may say NONE; the appended set's names still need
            // an encoding (NONE would store every name empty).
            string_type: if st == StringType::NONE {
                StringType::UNICODE
            } else {
                st
            },
            catalog: t.media_based_catalog_type == mbc_type::TYPE1,
        };
        let next_set_number = point
            .sets
            .iter()
            .map(|s| s.data_set_number)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Ok(Writer {
            sink: Some(sink),
            media,
            opts,
            block_size,
            block: block_buf::BlockBuf::new(block_size),
            pos: point.offset,
            sequence: t.media_sequence_number,
            filemarks: point.filemarks,
            soft_filemarks: point.soft_filemarks,
            early_warning: false,
            next_set_number,
            sets: point.sets,
            set: None,
            last_eset_pba: None,
            failed: None,
        })
    }

    /// The physical block size in use.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The media sequence number of the medium being written.
    pub fn media_sequence_number(&self) -> u16 {
        self.sequence
    }

    /// The sets written so far in the family (including those found when appending).
    pub fn sets(&self) -> &[SetRecord] {
        &self.sets
    }

    /// Flushes and returns the sink of the medium being written. A set still open is an error:
    /// end it first.
    pub fn finish(mut self) -> Result<S> {
        self.usable()?;
        if self.set.is_some() {
            return Err(misuse("finish with a data set still open"));
        }
        self.flush_sink()?;
        self.sink.take().ok_or_else(|| self.unusable())
    }

    /// Gives back the media supplier (e.g. to collect the media it made).
    pub fn into_parts(mut self) -> Result<(S, M)> {
        self.usable()?;
        if self.set.is_some() {
            return Err(misuse("finish with a data set still open"));
        }
        self.flush_sink()?;
        let sink = self.sink.take().ok_or_else(|| self.unusable())?;
        Ok((sink, self.media))
    }

    fn open_set(&mut self) -> Result<&mut OpenSet> {
        self.set
            .as_mut()
            .ok_or_else(|| misuse("no data set is open"))
    }

    fn sink(&mut self) -> Result<&mut S> {
        if self.sink.is_none() {
            return Err(self.unusable());
        }
        Ok(self.sink.as_mut().expect("checked"))
    }

    /// The error for any call after a failed medium change.
    fn unusable(&self) -> Error {
        misuse(&format!(
            "the writer cannot go on: {}",
            self.failed.as_deref().unwrap_or("it has no medium")
        ))
    }

    /// An error if a medium change failed earlier.
    fn usable(&self) -> Result<()> {
        match (&self.failed, &self.sink) {
            (None, Some(_)) => Ok(()),
            _ => Err(self.unusable()),
        }
    }
}

/// A date as MTF stores it, or an error naming `field` when it lies outside MTF's range
/// (years 0 to 16383): never stored as "unknown".
fn mtf_date(d: crate::date::DateTime, field: &'static str) -> Result<MtfDateTime> {
    MtfDateTime::from_datetime(d).ok_or_else(|| Error::Encode {
        field,
        reason: format!("{d:?} is not a date MTF can hold (years 0 to 16383)"),
    })
}

/// Checks medium and set options before any medium is opened, by writing them to memory: an
/// invalid block size, FLB size, date or over-long name is found while an existing medium is
/// still untouched. `tape` checks the layout for a medium with hardware filemarks.
pub fn check_options(medium: &MediumOptions, set: &SetOptions, tape: bool) -> Result<()> {
    let sink = MemorySink {
        hardware_filemarks: tape,
        ..Default::default()
    };
    let mut w = Writer::new(sink, medium.clone())?;
    w.begin_set(set.clone())?;
    w.end_set()?;
    Ok(())
}

fn misuse(what: &str) -> Error {
    Error::Encode {
        field: "writer",
        reason: what.to_owned(),
    }
}

fn check_layout(flb: u16, block_size: usize) -> Result<()> {
    if !crate::spec::VALID_FLB_SIZES.contains(&flb) {
        return Err(Error::Encode {
            field: "FLB size",
            reason: format!("{flb} is not 512 or 1024"),
        });
    }
    if block_size < flb as usize || block_size % flb as usize != 0 || block_size > MAX_BLOCK_SIZE {
        return Err(Error::Encode {
            field: "physical block size",
            reason: format!(
                "{block_size} must be a multiple of the FLB size {flb}, at most {MAX_BLOCK_SIZE}"
            ),
        });
    }
    Ok(())
}
