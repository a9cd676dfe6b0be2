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
mod catalog;
mod options;
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

/// Small streams written with their block, such as a PNAM or FNAM holding a long name; a
/// continuation medium repeats them with the block.
type NameStreams = Vec<(StreamId, Vec<u8>)>;

/// Largest physical block size (it must fit the TAPE block's 16-bit 512-byte unit count).
pub const MAX_BLOCK_SIZE: usize = u16::MAX as usize * SOFT_FILEMARK_UNIT;

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
    block: Vec<u8>,
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
            block: Vec::with_capacity(block_size),
            pos: 0,
            sequence: 1,
            filemarks: Vec::new(),
            soft_filemarks: 0,
            early_warning: false,
            next_set_number: 1,
            sets: Vec::new(),
            set: None,
            last_eset_pba: None,
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
            block: Vec::with_capacity(block_size),
            pos: point.offset,
            sequence: t.media_sequence_number,
            filemarks: point.filemarks,
            soft_filemarks: point.soft_filemarks,
            early_warning: false,
            next_set_number,
            sets: point.sets,
            set: None,
            last_eset_pba: None,
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

    // ----- data sets -----

    /// Starts a data set (SSET).
    pub fn begin_set(&mut self, opts: SetOptions) -> Result<()> {
        if self.set.is_some() {
            return Err(misuse("begin_set while a set is open"));
        }
        self.at_safe_point()?;
        let number = self.next_set_number;
        self.next_set_number = number
            .checked_add(1)
            .ok_or_else(|| misuse("data set numbers exhausted"))?;
        let date = MtfDateTime::from_datetime(opts.date).unwrap_or(MtfDateTime::NONE);
        let record = SetRecord {
            data_set_number: number,
            media_sequence_number: self.sequence,
            sset_pba: self.pos / self.block_size as u64,
            attributes: opts.kind.attributes(),
            name: opts.name.clone(),
            description: opts.description.clone(),
            user: opts.user.clone(),
            date,
            time_zone: opts.time_zone,
            ..SetRecord::default()
        };
        self.set = Some(OpenSet {
            number,
            cbid: 0,
            fla_origin: self.pos,
            sset_sequence: self.sequence,
            volb: None,
            dirb: None,
            next_dir_id: 1,
            next_file_id: 1,
            dir_id: 0,
            record,
            fdd: catalog::FddBuilder::default(),
            opts,
        });
        let sset = self.sset_block(false);
        self.write_dblk(sset, &[])?;
        Ok(())
    }

    /// Starts a volume (VOLB); directories and files that follow belong to it.
    pub fn add_volume(&mut self, v: &VolumeOptions) -> Result<()> {
        let st = self.opts.string_type;
        let set = self.open_set()?;
        let date = MtfDateTime::from_datetime(set.opts.date).unwrap_or(MtfDateTime::NONE);
        let attributes = if v.device.len() == 2 && v.device.ends_with(':') {
            VolumeAttributes::DEV_DRIVE
        } else if v.device.starts_with("\\\\") {
            VolumeAttributes::DEV_UNC
        } else {
            VolumeAttributes::DEV_OS_SPEC
        };
        let mut d = Dblk::new(
            BlockType::VOLB,
            Body::Volb(Volb {
                attributes,
                device_name: MtfText::encode(&v.device, st),
                volume_name: MtfText::encode(&v.volume, st),
                machine_name: MtfText::encode(&v.machine, st),
                media_write_date: date,
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.string_type = st;
        d.header.os_version = 1;
        d.os_data = OsData::NtVolume1 {
            file_system_flags: 0,
            backup_set_attributes: 0,
        };
        let set = self.set.as_mut().expect("open set");
        set.volb = Some(d.clone());
        set.dirb = None;
        set.record.volumes.push(v.clone());
        let fla = self.write_dblk(d.clone(), &[])?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);
        Ok(())
    }

    /// Adds a directory (DIRB) by its path components from the volume root (none for the root).
    /// Files added next belong to it.
    pub fn add_directory<C: AsRef<str>>(
        &mut self,
        components: &[C],
        meta: &EntryMeta,
    ) -> Result<()> {
        let st = self.opts.string_type;
        let set = self.open_set()?;
        if set.volb.is_none() {
            return Err(misuse("add_directory before add_volume"));
        }
        for c in components {
            let c = c.as_ref();
            if c.is_empty() || c.contains('\0') {
                return Err(misuse(
                    "directory components must be non-empty and free of NUL",
                ));
            }
        }
        let id = set.next_dir_id;
        set.next_dir_id += 1;
        set.dir_id = id;
        set.record.directories += 1;
        let mut attributes = DirectoryAttributes::empty();
        if meta.read_only {
            attributes |= DirectoryAttributes::READ_ONLY;
        }
        if meta.hidden {
            attributes |= DirectoryAttributes::HIDDEN;
        }
        let path = join_dir_path(components, st);
        let in_stream = DB_HDR_LEN + Dirb::FIXED_LEN + 4 + path.len() > MAX_DBLK_LEN;
        if in_stream {
            attributes |= DirectoryAttributes::PATH_IN_STREAM;
        }
        let mut d = Dblk::new(
            BlockType::DIRB,
            Body::Dirb(Dirb {
                attributes,
                dates: meta.dates,
                directory_id: id,
                directory_name: if in_stream {
                    MtfText::default()
                } else {
                    MtfText {
                        addr: Default::default(),
                        raw: path.clone(),
                    }
                },
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.string_type = st;
        d.header.os_version = 0;
        d.os_data = OsData::NtDirectory0 {
            attributes: meta.nt_attributes | crate::spec::NtFileAttributes::DIRECTORY,
        };
        let set = self.set.as_mut().expect("open set");
        let streams: NameStreams = if in_stream {
            vec![(StreamId::PNAM, path)]
        } else {
            Vec::new()
        };
        set.dirb = Some((d.clone(), streams.clone()));
        let fla = self.write_dblk(d.clone(), &streams)?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);
        Ok(())
    }

    /// Adds a file (FILE) in the current directory, with `size` bytes of data from `data` in a
    /// STAN stream (and a CSUM stream when the set asks for checksums). If `data` ends early the
    /// rest is zero-filled, so the declared length holds, and a CFIL block records the
    /// corruption, as the spec prescribes; bytes beyond `size` are not read.
    pub fn add_file(
        &mut self,
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<()> {
        let st = self.opts.string_type;
        let set = self.open_set()?;
        if set.dirb.is_none() {
            return Err(misuse("add_file before add_directory"));
        }
        if name.is_empty() || name.contains(['\0', '/', '\\']) {
            return Err(misuse(
                "file names must be non-empty and free of NUL and separators",
            ));
        }
        let id = set.next_file_id;
        set.next_file_id += 1;
        set.record.files += 1;
        set.record.size += size;
        let dir_id = set.dir_id;
        let checksums = set.opts.checksums;
        let mut attributes = FileAttributes::empty();
        if meta.read_only {
            attributes |= FileAttributes::READ_ONLY;
        }
        if meta.hidden {
            attributes |= FileAttributes::HIDDEN;
        }
        let raw_name = crate::text::encode_str(name, st);
        let in_stream = DB_HDR_LEN + File::FIXED_LEN + 12 + raw_name.len() > MAX_DBLK_LEN;
        if in_stream {
            attributes |= FileAttributes::NAME_IN_STREAM;
        }
        let mut d = Dblk::new(
            BlockType::FILE,
            Body::File(File {
                attributes,
                dates: meta.dates,
                directory_id: dir_id,
                file_id: id,
                file_name: if in_stream {
                    MtfText::default()
                } else {
                    MtfText {
                        addr: Default::default(),
                        raw: raw_name.clone(),
                    }
                },
            }),
        );
        d.header.displayable_size = size;
        d.header.string_type = st;
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.os_version = 0;
        d.os_data = OsData::NtFile0 {
            attributes: meta.nt_attributes,
            short_name_offset: 0,
            short_name_size: 0,
            link: 0,
            reserved: 0,
        };
        let name_streams: NameStreams = if in_stream {
            vec![(StreamId::FNAM, raw_name)]
        } else {
            Vec::new()
        };
        let fla = self.write_dblk_open(d.clone(), &name_streams)?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);

        let mut stan = StreamHeader::new(StreamId::STAN, size);
        if checksums {
            stan.media_attributes |= StreamMediaAttributes::CHECKSUMED;
        }
        // Computed only when a CSUM stream will carry it: the XOR costs a pass over the data.
        let mut csum = FastXor32::new();
        let short = self.write_stream_data(
            &stan,
            (&d, &name_streams),
            size,
            data,
            checksums.then_some(&mut csum),
        )?;
        if checksums {
            self.write_stream(
                &StreamHeader::new(StreamId::CSUM, 4),
                &csum.value().to_le_bytes(),
            )?;
        }
        self.write_spad()?;
        if let Some(got) = short {
            let set = self.open_set()?;
            set.record.corrupt_files += 1;
            let mut c = Dblk::new(
                BlockType::CFIL,
                Body::Cfil(crate::block::Cfil {
                    attributes: crate::spec::CorruptAttributes::LENGTH_CHANGE,
                    reserved: [0; 8],
                    stream_offset: got,
                    corrupt_stream_number: 1,
                }),
            );
            c.header.os_id = OsId::WINDOWS_NT;
            self.write_dblk(c, &[])?;
        }
        Ok(())
    }

    /// Ends the data set: pads to a physical block, filemark, ESET (with the catalog when the
    /// medium has one), filemark.
    pub fn end_set(&mut self) -> Result<SetSummary> {
        self.open_set()?;
        self.at_safe_point()?;
        self.pad_to_physical()?;
        self.filemark()?;
        let mut set = self.set.take().expect("open set");
        let st = self.opts.string_type;
        let date = MtfDateTime::from_datetime(set.opts.date).unwrap_or(MtfDateTime::NONE);
        set.cbid += 1;
        let eset = |mbc1: u64, mbc2: u64, cbid: u32, flags: BlockAttributes| -> Dblk {
            let mut d = Dblk::new(
                BlockType::ESET,
                Body::Eset(Eset {
                    attributes: set.opts.kind.attributes(),
                    number_of_corrupt_files: set.record.corrupt_files,
                    reserved_for_mbc1: mbc1,
                    reserved_for_mbc2: mbc2,
                    fdd_media_sequence_number: set.sset_sequence,
                    data_set_number: set.number,
                    media_write_date: date,
                }),
            );
            d.header.control_block_id = cbid;
            d.header.attributes = flags;
            d.header.os_id = OsId::WINDOWS_NT;
            d.header.string_type = st;
            d
        };
        let mut record = set.record.clone();
        record.fdd_pba = 0;
        if self.opts.catalog {
            let mut d = eset(0, 0, set.cbid, BlockAttributes::empty());
            let mut region = Vec::new();
            d.write_fixed(&mut region)?;
            self.emit(&region)?;
            // FDD: entries, FEND, zeros to the next physical block so the set map is aligned.
            let fdd_pba = self.pos / self.block_size as u64;
            let fdd = set.fdd.finish(st);
            let fdd_start = self.pos + STREAM_HDR_LEN as u64;
            let fdd_len =
                align_up(fdd_start + fdd.len() as u64, self.block_size as u64) - fdd_start;
            let mut data = fdd;
            data.resize(fdd_len as usize, 0);
            self.write_stream(&StreamHeader::new(StreamId::TFDD, fdd_len), &data)?;
            record.fdd_pba = fdd_pba;
            record.fdd_sequence = self.sequence;
            self.sets.push(record.clone());
            let smap_pba = self.pos / self.block_size as u64;
            let smap = catalog::set_map(self.opts.media_family_id, &self.sets, st);
            self.write_stream(&StreamHeader::new(StreamId::TSMP, smap.len() as u64), &smap)?;
            self.write_spad_to(self.block_size as u64)?;
            let eset2_pba = self.pos / self.block_size as u64;
            let mut d2 = eset(fdd_pba, smap_pba, set.cbid, BlockAttributes::empty());
            self.write_raw_dblk(&mut d2, self.block_size as u64)?;
            self.last_eset_pba = Some(eset2_pba);
        } else {
            self.sets.push(record.clone());
            let pba = self.pos / self.block_size as u64;
            let mut d = eset(0, 0, set.cbid, BlockAttributes::empty());
            self.write_raw_dblk(&mut d, self.block_size as u64)?;
            self.last_eset_pba = Some(pba);
        }
        self.filemark()?;
        self.flush_sink()?;
        Ok(record)
    }

    /// Flushes and returns the sink of the medium being written. A set still open is an error:
    /// end it first.
    pub fn finish(mut self) -> Result<S> {
        if self.set.is_some() {
            return Err(misuse("finish with a data set still open"));
        }
        self.flush_sink()?;
        Ok(self.sink.take().expect("sink"))
    }

    /// Gives back the media supplier (e.g. to collect the media it made).
    pub fn into_parts(mut self) -> Result<(S, M)> {
        if self.set.is_some() {
            return Err(misuse("finish with a data set still open"));
        }
        self.flush_sink()?;
        let sink = self.sink.take().expect("sink");
        Ok((sink, self.media))
    }

    // ----- internals -----

    fn open_set(&mut self) -> Result<&mut OpenSet> {
        self.set
            .as_mut()
            .ok_or_else(|| misuse("no data set is open"))
    }

    fn sink(&mut self) -> &mut S {
        self.sink.as_mut().expect("sink present")
    }

    /// Appends bytes to the current physical block, writing full blocks to the sink.
    fn emit(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = (self.block_size - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..n]);
            self.pos += n as u64;
            bytes = &bytes[n..];
            if self.block.len() == self.block_size {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn emit_zeros(&mut self, mut n: u64) -> Result<()> {
        const Z: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(Z.len() as u64) as usize;
            self.emit(&Z[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        debug_assert_eq!(self.block.len(), self.block_size);
        let block = std::mem::take(&mut self.block);
        let st = self.sink().write_block(&block);
        self.block = block;
        self.block.clear();
        if st?.early_warning {
            self.early_warning = true;
        }
        Ok(())
    }

    fn flush_sink(&mut self) -> Result<()> {
        self.sink().flush()?;
        Ok(())
    }

    /// Where the current position lies as an FLA of the open set.
    fn fla(&self) -> u64 {
        match &self.set {
            Some(s) => (self.pos - s.fla_origin) / self.opts.flb_size as u64,
            None => 0,
        }
    }

    /// Writes a DBLK (header region, then the given small streams, then SPAD to the next FLB)
    /// and returns its FLA.
    fn write_dblk(&mut self, d: Dblk, streams: &[(StreamId, Vec<u8>)]) -> Result<u64> {
        let fla = self.write_dblk_open(d, streams)?;
        self.write_spad()?;
        Ok(fla)
    }

    /// Like [`Self::write_dblk`] but leaves the block open for more streams.
    fn write_dblk_open(&mut self, mut d: Dblk, streams: &[(StreamId, Vec<u8>)]) -> Result<u64> {
        self.at_safe_point()?;
        let fla = self.fla();
        let st = self.opts.string_type;
        if let Some(set) = self.set.as_mut() {
            d.header.format_logical_address = fla;
            d.header.control_block_id = set.cbid;
            set.cbid += 1;
        }
        d.header.string_type = st;
        let mut region = Vec::new();
        d.write_fixed(&mut region)?;
        self.emit(&region)?;
        for (id, data) in streams {
            self.write_stream(&StreamHeader::new(*id, data.len() as u64), data)?;
        }
        Ok(fla)
    }

    /// Writes a block outside the set's FLA/CBID numbering (TAPE, EOTM, ESET) followed by SPAD
    /// to the next multiple of `align`.
    fn write_raw_dblk(&mut self, d: &mut Dblk, align: u64) -> Result<()> {
        d.header.string_type = self.opts.string_type;
        let mut region = Vec::new();
        d.write_fixed(&mut region)?;
        self.emit(&region)?;
        self.write_spad_to(align)
    }

    fn write_stream(&mut self, h: &StreamHeader, data: &[u8]) -> Result<()> {
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        h.clone().write_fixed(&mut hb);
        self.emit(&hb)?;
        self.emit(data)?;
        let pad = align_up(self.pos, 4) - self.pos;
        self.emit_zeros(pad)
    }

    fn write_spad(&mut self) -> Result<()> {
        self.write_spad_to(self.opts.flb_size as u64)
    }

    /// SPAD from here to the next multiple of `align` (after room for its own header).
    fn write_spad_to(&mut self, align: u64) -> Result<()> {
        let end = align_up(self.pos + STREAM_HDR_LEN as u64, align);
        let len = end - self.pos - STREAM_HDR_LEN as u64;
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        StreamHeader::new(StreamId::SPAD, len).write_fixed(&mut hb);
        self.emit(&hb)?;
        self.emit_zeros(len)
    }

    /// Writes a data stream's header and `size` bytes from `src`, continuing onto the next
    /// medium if early warning comes in the middle. Returns `Some(bytes_read)` if the source
    /// ended early (the rest is zero-filled).
    fn write_stream_data(
        &mut self,
        header: &StreamHeader,
        file: (&Dblk, &NameStreams),
        size: u64,
        src: &mut dyn Read,
        mut csum: Option<&mut FastXor32>,
    ) -> Result<Option<u64>> {
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        header.clone().write_fixed(&mut hb);
        self.emit(&hb)?;
        let mut remaining = size;
        let mut short: Option<u64> = None;
        while remaining > 0 {
            if self.early_warning && self.block.is_empty() {
                // At a physical block boundary inside the data: cut here and go on.
                self.end_of_medium(Some(file))?;
                let mut cont = header.clone();
                cont.media_attributes |= StreamMediaAttributes::CONTINUE;
                cont.length = remaining;
                let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
                cont.write_fixed(&mut hb);
                self.emit(&hb)?;
            }
            let room = self.block_size - self.block.len();
            let n = (room as u64).min(remaining) as usize;
            let old = self.block.len();
            self.block.resize(old + n, 0);
            let got = if short.is_some() {
                0
            } else {
                read_full(src, &mut self.block[old..])?
            };
            if got < n {
                short.get_or_insert(size - remaining + got as u64);
                self.block[old + got..].fill(0);
            }
            if let Some(c) = csum.as_deref_mut() {
                c.update(&self.block[old..]);
            }
            self.pos += n as u64;
            remaining -= n as u64;
            if self.block.len() == self.block_size {
                self.flush_block()?;
            }
        }
        let pad = align_up(self.pos, 4) - self.pos;
        self.emit_zeros(pad)?;
        Ok(short)
    }

    /// At a point where a new DBLK may start: if the medium reported early warning, close it
    /// and continue on the next one.
    fn at_safe_point(&mut self) -> Result<()> {
        if self.early_warning {
            self.pad_to_physical()?;
            self.end_of_medium(None)?;
        }
        Ok(())
    }

    /// Pads with an ESPB to the next physical block boundary, if not on one.
    fn pad_to_physical(&mut self) -> Result<()> {
        if self.pos % self.block_size as u64 == 0 {
            return Ok(());
        }
        let mut d = Dblk::new(BlockType::ESPB, Body::Espb);
        d.header.format_logical_address = self.fla();
        if let Some(set) = self.set.as_mut() {
            d.header.control_block_id = set.cbid;
            set.cbid += 1;
        }
        self.write_raw_dblk(&mut d, self.block_size as u64)
    }

    /// Writes a filemark: hardware if the sink has them, else an SFMB. We are on a physical
    /// block boundary.
    fn filemark(&mut self) -> Result<()> {
        debug_assert!(self.block.is_empty());
        let pba = self.pos / self.block_size as u64;
        if self.sink().has_filemarks() {
            if self.sink().write_filemark()?.early_warning {
                self.early_warning = true;
            }
        } else {
            let cap = (self.block_size - Sfmb::SPEC_TABLE_OFFSET) / 8;
            let mut entries: Vec<u64> = self.filemarks.iter().rev().take(cap).copied().collect();
            let used = entries.len() as u32;
            entries.resize(cap, 0);
            self.soft_filemarks += 1;
            let mut d = Dblk::new(
                BlockType::SFMB,
                Body::Sfmb(Sfmb {
                    number_of_entries: cap as u32,
                    entries_used: used,
                    layout: SfmbLayout::Spec,
                    entries,
                }),
            );
            d.header.format_logical_address = pba;
            d.header.control_block_id = self.soft_filemarks;
            d.header.offset_to_first_event = self.block_size.min(crate::block::SFMB_MAX_OFE) as u16;
            d.var_area = vec![0; self.block_size - DB_HDR_LEN - Sfmb::FIXED_LEN];
            let mut b = Vec::with_capacity(self.block_size);
            d.write_fixed(&mut b)?;
            debug_assert_eq!(b.len(), self.block_size);
            self.emit(&b)?;
        }
        self.filemarks.push(pba);
        Ok(())
    }

    fn write_media_header(&mut self, continuation: bool) -> Result<()> {
        let st = self.opts.string_type;
        let mut attributes = TapeAttributes::empty();
        if !self.sink().has_filemarks() {
            attributes |= TapeAttributes::SOFT_FILEMARK;
        }
        let mut d = Dblk::new(
            BlockType::TAPE,
            Body::Tape(Tape {
                media_family_id: self.opts.media_family_id,
                attributes,
                media_sequence_number: self.sequence,
                password_encryption_algorithm: 0,
                soft_filemark_block_size: (self.block_size / SOFT_FILEMARK_UNIT) as u16,
                media_based_catalog_type: if self.opts.catalog {
                    mbc_type::TYPE1
                } else {
                    mbc_type::NONE
                },
                media_name: MtfText::encode(&self.opts.media_name, st),
                media_description: MtfText::encode(&self.opts.media_description, st),
                media_password: MtfText::default(),
                software_name: MtfText::encode(&self.opts.software_name, st),
                format_logical_block_size: self.opts.flb_size,
                software_vendor_id: self.opts.software_vendor_id,
                media_date: MtfDateTime::from_datetime(self.opts.media_date)
                    .unwrap_or(MtfDateTime::NONE),
                mtf_major_version: 1,
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        if self.opts.catalog {
            d.header.attributes |=
                BlockAttributes::TAPE_SET_MAP_EXISTS | BlockAttributes::TAPE_FDD_ALLOWED;
        }
        if continuation {
            d.header.attributes |= BlockAttributes::CONTINUATION;
        }
        self.write_raw_dblk(&mut d, self.block_size as u64)?;
        self.filemark()
    }

    fn sset_block(&self, continuation: bool) -> Dblk {
        let st = self.opts.string_type;
        let set = self.set.as_ref().expect("open set");
        let o = &set.opts;
        let mut d = Dblk::new(
            BlockType::SSET,
            Body::Sset(Sset {
                attributes: o.kind.attributes(),
                password_encryption_algorithm: 0,
                software_compression_algorithm: 0,
                software_vendor_id: self.opts.software_vendor_id,
                data_set_number: set.number,
                data_set_name: MtfText::encode(&o.name, st),
                data_set_description: MtfText::encode(&o.description, st),
                data_set_password: MtfText::default(),
                user_name: MtfText::encode(&o.user, st),
                physical_block_address: self.pos / self.block_size as u64,
                media_write_date: MtfDateTime::from_datetime(o.date).unwrap_or(MtfDateTime::NONE),
                software_major_version: o.software_version.0,
                software_minor_version: o.software_version.1,
                time_zone: o.time_zone,
                mtf_minor_version: 0,
                media_catalog_version: if self.opts.catalog { 2 } else { 0 },
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        if self.opts.catalog {
            d.header.attributes |= BlockAttributes::SSET_FDD_EXISTS;
        }
        if continuation {
            d.header.attributes |= BlockAttributes::CONTINUATION;
        }
        d
    }

    /// The MTF end-of-media procedure, on a physical block boundary: filemark, EOTM, filemark;
    /// then the next medium's TAPE block and filemark, and the open set's SSET, VOLB, DIRB and
    /// (when cutting a file's data) FILE again, marked as continuations, each with its name
    /// stream (PNAM, FNAM) when it has one.
    fn end_of_medium(&mut self, cutting_file: Option<(&Dblk, &NameStreams)>) -> Result<()> {
        self.early_warning = false;
        // The FLA where the set goes on; the repeated blocks take the ones just before it.
        let split_fla = self.fla();
        self.filemark()?;
        let mut eotm = Dblk::new(
            BlockType::EOTM,
            Body::Eotm(Eotm {
                last_eset_pba: self.last_eset_pba.unwrap_or(0),
            }),
        );
        if self.last_eset_pba.is_none() {
            eotm.header.attributes |= BlockAttributes::EOTM_NO_ESET_PBA;
        }
        eotm.header.os_id = OsId::WINDOWS_NT;
        self.write_raw_dblk(&mut eotm, self.block_size as u64)?;
        self.filemark()?;
        self.flush_sink()?;
        let old = self.sink.take().expect("sink");
        self.media.medium_done(self.sequence, old)?;
        self.sequence = self
            .sequence
            .checked_add(1)
            .ok_or_else(|| misuse("media sequence numbers exhausted"))?;
        let next = self.media.next_medium(self.sequence)?;
        self.sink = Some(next);
        self.pos = 0;
        self.block.clear();
        self.filemarks.clear();
        self.last_eset_pba = None;
        self.write_media_header(true)?;
        self.early_warning = false;
        if self.set.is_none() {
            return Ok(());
        }
        let mut repeats: Vec<(Dblk, NameStreams)> = vec![(self.sset_block(true), Vec::new())];
        let set = self.set.as_ref().expect("set");
        repeats.extend(set.volb.iter().map(|d| (d.clone(), Vec::new())));
        repeats.extend(set.dirb.iter().cloned());
        repeats.extend(cutting_file.map(|(d, s)| (d.clone(), s.clone())));
        let flb = self.opts.flb_size as u64;
        let last = repeats.len() - 1;
        // The FLBs the repeats take (a name stream can make one longer than an FLB).
        let mut flbs = 0u64;
        for (i, (d, streams)) in repeats.iter().enumerate() {
            let mut region = Vec::new();
            d.clone().write_fixed(&mut region)?;
            let mut len = region.len() as u64;
            for (_, data) in streams {
                len = align_up(len + STREAM_HDR_LEN as u64 + data.len() as u64, 4);
            }
            if !(cutting_file.is_some() && i == last) {
                len += STREAM_HDR_LEN as u64;
            }
            flbs += align_up(len, flb) / flb;
        }
        let first = split_fla.saturating_sub(flbs);
        let pos = self.pos;
        self.set.as_mut().expect("set").fla_origin = pos.saturating_sub(first * flb);
        for (i, (mut d, streams)) in repeats.into_iter().enumerate() {
            d.header.attributes |= BlockAttributes::CONTINUATION;
            d.header.format_logical_address = self.fla();
            d.header.string_type = self.opts.string_type;
            let mut region = Vec::new();
            d.write_fixed(&mut region)?;
            self.emit(&region)?;
            for (id, data) in &streams {
                self.write_stream(&StreamHeader::new(*id, data.len() as u64), data)?;
            }
            // A cut file's data stream follows its repeated FILE block directly.
            if !(cutting_file.is_some() && i == last) {
                self.write_spad()?;
            }
        }
        Ok(())
    }
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
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
