//! Type 1 media based catalog: the TFDD (file/directory detail) and TSMP (set map) streams of a
//! data set's first ESET.
//!
//! Both are sequences of self-sized entries whose strings are located by MTF_TAPE_ADDRESS
//! *relative to the entry's start*. Every typed entry keeps every field as stored (pads
//! included) plus the bytes between its fixed part and its end verbatim, so the raw writers give
//! back the input exactly, whatever order or padding a writer used for the strings. The fixed
//! writers lay entries out afresh: strings start at the first even offset after the fixed part
//! (OS data first, then strings in field order, no padding between them), and lengths, string
//! addresses and counts are recomputed. That is exactly how SQL Server lays out its set maps, so
//! the fixed writer reproduces its TSMP streams byte for byte. FDD links (`link`) are offsets
//! between entries and are kept as held; a caller that reorders entries must set them.
//!
//! ## What SQL Server writes
//!
//! Every SQL Server sample (2005 to 2022) has a TSMP stream on its first ESET, preceded by an
//! all-zero OTCP stream that pads it to a 1 KiB boundary, and no TFDD. The set map follows the
//! MTF layout field for field, with these observations:
//! - volume entries (one per set, a full 36-byte FDD VOLB entry) come *after* the set map
//!   entry's Length, as in Backup Exec's SMP2 ([`VolumePlacement::AfterEntry`]);
//! - the 91-byte entry is followed by one zero byte, so strings start at offset 92; the VOLB
//!   entry's 61-byte fixed part likewise has one zero byte before its strings at 62;
//! - entries are not padded: each Length ends at its last string;
//! - PBAs are byte offsets from the start of the file (SSET PBA = the SSET's file offset);
//!   the FDD PBA is 0; the map is cumulative (an appended second set gives a two-entry map).
//!
//! Decoding handles both readings of the spec's ambiguity about where volume entries go: after
//! the entry's Length (tried first), or inside it, after the fixed part and strings (found by
//! their `VOLB` tag); [`SetMapEntry::placement`] records which, and the raw writer returns
//! either byte for byte.

use crate::block::ObjectDates;
use crate::date::MtfDateTime;
use crate::error::{Error, Result};
use crate::os_data::OsData;
use crate::parse::{array, le_i32, le_u16, le_u32, le_u64, le_u8, run, slice_at};
use crate::spec::{
    align_up, BlockAttributes, BlockType, DirectoryAttributes, FileAttributes, OsId, SetAttributes,
    StringType, VolumeAttributes,
};
use crate::text::{MtfText, TapeAddress};

/// The FDD entry type that ends an FDD.
pub const FEND: BlockType = BlockType(*b"FEND");
/// Size of MTF_FDD_HDR, the header of every FDD entry (and of a set map's volume entries).
pub const FDD_HDR_LEN: usize = 36;
/// Size of MTF_SM_HDR.
pub const SM_HDR_LEN: usize = 8;
/// Strings of a freshly laid out entry start on a multiple of this (UTF-16 alignment).
const STRING_ALIGN: u64 = 2;

/// Reads the string `addr` names in `entry`; a bad address is reported at `field_offset`, the
/// offset of the address field within the entry.
fn resolve(
    addr: TapeAddress,
    entry: &[u8],
    field: &'static str,
    field_offset: usize,
) -> Result<MtfText> {
    MtfText::resolve(addr, entry, field).map_err(|e| e.at(field_offset as u64))
}

fn to_u16(n: usize, field: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::Encode {
        field,
        reason: format!("{n} does not fit 16 bits"),
    })
}

/// Lays `texts` out after `fixed_len` bytes: the returned area starts at `fixed_len` with zero
/// fill up to an even offset, then each text in order; addresses are set (empty texts get the
/// zero address).
fn lay_out(fixed_len: usize, texts: Vec<&mut MtfText>) -> Result<Vec<u8>> {
    let start = align_up(fixed_len as u64, STRING_ALIGN) as usize;
    let mut var = vec![0u8; start - fixed_len];
    for t in texts {
        t.addr = if t.raw.is_empty() {
            TapeAddress::default()
        } else {
            TapeAddress {
                size: to_u16(t.raw.len(), "catalog string size")?,
                offset: to_u16(fixed_len + var.len(), "catalog string offset")?,
            }
        };
        var.extend_from_slice(&t.raw);
    }
    Ok(var)
}

/// MTF_FDD_HDR: the 36-byte header of an FDD entry, every field as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FddHeader {
    /// The entry's size, strings included. As stored; the fixed writer recomputes it.
    pub length: u16,
    /// VOLB, DIRB, FILE or [`FEND`].
    pub entry_type: BlockType,
    /// Media sequence number (1 for the first medium).
    pub media_sequence_number: u16,
    /// Copy of the DBLK's attribute word.
    pub block_attributes: BlockAttributes,
    /// Copy of the DBLK's Format Logical Address.
    pub format_logical_address: u64,
    /// Copy of the DBLK's displayable size.
    pub displayable_size: u64,
    /// FILE: offset of its parent directory entry; VOLB: of the next VOLB; DIRB: of the next
    /// sibling; 0 for the last.
    pub link: i32,
    /// OS id of the OS-specific data.
    pub os_id: OsId,
    /// Version of the OS-specific data's layout.
    pub os_version: u8,
    /// How the strings are encoded.
    pub string_type: StringType,
    /// Padding, kept verbatim.
    pub pad: u8,
}

impl FddHeader {
    /// A header of the given type with every other field zero.
    pub fn new(entry_type: BlockType) -> FddHeader {
        FddHeader {
            length: 0,
            entry_type,
            media_sequence_number: 0,
            block_attributes: BlockAttributes::empty(),
            format_logical_address: 0,
            displayable_size: 0,
            link: 0,
            os_id: OsId(0),
            os_version: 0,
            string_type: StringType::NONE,
            pad: 0,
        }
    }

    /// Parses the 36 bytes at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<FddHeader> {
        let (h, _) = run(bytes, "FDD entry header", FDD_HDR_LEN, |i| {
            let (i, length) = le_u16(i)?;
            let (i, entry_type) = array::<4>(i)?;
            let (i, media_sequence_number) = le_u16(i)?;
            let (i, attrs) = le_u32(i)?;
            let (i, format_logical_address) = le_u64(i)?;
            let (i, displayable_size) = le_u64(i)?;
            let (i, link) = le_i32(i)?;
            let (i, os_id) = le_u8(i)?;
            let (i, os_version) = le_u8(i)?;
            let (i, string_type) = le_u8(i)?;
            let (i, pad) = le_u8(i)?;
            Ok((
                i,
                FddHeader {
                    length,
                    entry_type: BlockType(entry_type),
                    media_sequence_number,
                    block_attributes: BlockAttributes::from_bits_retain(attrs),
                    format_logical_address,
                    displayable_size,
                    link,
                    os_id: OsId(os_id),
                    os_version,
                    string_type: StringType(string_type),
                    pad,
                },
            ))
        })?;
        Ok(h)
    }

    /// Writes the 36 bytes exactly as held.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.entry_type.0);
        out.extend_from_slice(&self.media_sequence_number.to_le_bytes());
        out.extend_from_slice(&self.block_attributes.bits().to_le_bytes());
        out.extend_from_slice(&self.format_logical_address.to_le_bytes());
        out.extend_from_slice(&self.displayable_size.to_le_bytes());
        out.extend_from_slice(&self.link.to_le_bytes());
        out.push(self.os_id.0);
        out.push(self.os_version);
        out.push(self.string_type.0);
        out.push(self.pad);
    }
}

/// FDD VOLB entry body (entry offsets 36..61).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FddVolb {
    /// The attribute bits (unknown bits kept).
    pub attributes: VolumeAttributes,
    /// Device name, as stored (decode with the block's string type).
    pub device_name: MtfText,
    /// Volume name, as stored (decode with the block's string type).
    pub volume_name: MtfText,
    /// Machine name, as stored (decode with the block's string type).
    pub machine_name: MtfText,
    /// OS-specific data, raw; see [`FddEntry::os_data`].
    pub os_data: MtfText,
    /// Media write date (all zero: unknown).
    pub media_write_date: MtfDateTime,
}

impl FddVolb {
    /// Size of the body's fixed part.
    pub const FIXED_LEN: usize = 25;

    fn parse(fixed: &[u8], entry: &[u8]) -> Result<FddVolb> {
        let ((a, dev, vol, mach, os, date), _) =
            run(fixed, "FDD VOLB entry", Self::FIXED_LEN, |i| {
                let (i, a) = le_u32(i)?;
                let (i, dev) = TapeAddress::parse(i)?;
                let (i, vol) = TapeAddress::parse(i)?;
                let (i, mach) = TapeAddress::parse(i)?;
                let (i, os) = TapeAddress::parse(i)?;
                let (i, date) = array::<5>(i)?;
                Ok((i, (a, dev, vol, mach, os, date)))
            })?;
        Ok(FddVolb {
            attributes: VolumeAttributes::from_bits_retain(a),
            device_name: resolve(dev, entry, "device name", 40)?,
            volume_name: resolve(vol, entry, "volume name", 44)?,
            machine_name: resolve(mach, entry, "machine name", 48)?,
            os_data: resolve(os, entry, "OS specific data", 52)?,
            media_write_date: MtfDateTime(date),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.attributes.bits().to_le_bytes());
        self.device_name.addr.write(out);
        self.volume_name.addr.write(out);
        self.machine_name.addr.write(out);
        self.os_data.addr.write(out);
        out.extend_from_slice(&self.media_write_date.0);
    }
}

/// FDD DIRB entry body (entry offsets 36..68).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FddDirb {
    /// The object's four dates.
    pub dates: ObjectDates,
    /// The attribute bits (unknown bits kept).
    pub attributes: DirectoryAttributes,
    /// NUL-separated path, as in the DIRB.
    pub directory_name: MtfText,
    /// OS-specific data, raw; see [`FddEntry::os_data`].
    pub os_data: MtfText,
}

/// FDD FILE entry body (entry offsets 36..68).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FddFile {
    /// The object's four dates.
    pub dates: ObjectDates,
    /// The attribute bits (unknown bits kept).
    pub attributes: FileAttributes,
    /// File name, as stored (decode with the block's string type).
    pub file_name: MtfText,
    /// OS-specific data, raw; see [`FddEntry::os_data`].
    pub os_data: MtfText,
}

/// The shared DIRB/FILE body layout: four dates, attributes, name, OS data.
fn parse_object(fixed: &[u8], entry: &[u8]) -> Result<(ObjectDates, u32, MtfText, MtfText)> {
    let ((dates, a, name, os), _) = run(fixed, "FDD DIRB/FILE entry", FddDirb::FIXED_LEN, |i| {
        let (i, dates) = ObjectDates::parse(i)?;
        let (i, a) = le_u32(i)?;
        let (i, name) = TapeAddress::parse(i)?;
        let (i, os) = TapeAddress::parse(i)?;
        Ok((i, (dates, a, name, os)))
    })?;
    Ok((
        dates,
        a,
        resolve(name, entry, "name", 60)?,
        resolve(os, entry, "OS specific data", 64)?,
    ))
}

impl FddDirb {
    /// Size of the body's fixed part.
    pub const FIXED_LEN: usize = 32;

    fn parse(fixed: &[u8], entry: &[u8]) -> Result<FddDirb> {
        let (dates, a, directory_name, os_data) = parse_object(fixed, entry)?;
        Ok(FddDirb {
            dates,
            attributes: DirectoryAttributes::from_bits_retain(a),
            directory_name,
            os_data,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        self.dates.write(out);
        out.extend_from_slice(&self.attributes.bits().to_le_bytes());
        self.directory_name.addr.write(out);
        self.os_data.addr.write(out);
    }
}

impl FddFile {
    /// Size of the body's fixed part.
    pub const FIXED_LEN: usize = 32;

    fn parse(fixed: &[u8], entry: &[u8]) -> Result<FddFile> {
        let (dates, a, file_name, os_data) = parse_object(fixed, entry)?;
        Ok(FddFile {
            dates,
            attributes: FileAttributes::from_bits_retain(a),
            file_name,
            os_data,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        self.dates.write(out);
        out.extend_from_slice(&self.attributes.bits().to_le_bytes());
        self.file_name.addr.write(out);
        self.os_data.addr.write(out);
    }
}

/// The type-specific part of an FDD entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum FddBody {
    /// A VOLB entry or block.
    Volb(FddVolb),
    /// A DIRB entry or block.
    Dirb(FddDirb),
    /// A FILE entry or block.
    File(FddFile),
    /// FEND: header only.
    End,
    /// Another entry type: everything after the header is kept in the variable area.
    Other,
}

impl FddBody {
    /// Size of the body's fixed part for an entry type (0 for FEND and unknown types).
    pub fn fixed_len(entry_type: BlockType) -> usize {
        match entry_type {
            BlockType::VOLB => FddVolb::FIXED_LEN,
            BlockType::DIRB => FddDirb::FIXED_LEN,
            BlockType::FILE => FddFile::FIXED_LEN,
            _ => 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            FddBody::Volb(b) => b.write(out),
            FddBody::Dirb(b) => b.write(out),
            FddBody::File(b) => b.write(out),
            FddBody::End | FddBody::Other => {}
        }
    }

    /// OS data first, then strings in field order: the fixed writer's layout order.
    fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        match self {
            FddBody::Volb(b) => vec![
                &mut b.os_data,
                &mut b.device_name,
                &mut b.volume_name,
                &mut b.machine_name,
            ],
            FddBody::Dirb(b) => vec![&mut b.os_data, &mut b.directory_name],
            FddBody::File(b) => vec![&mut b.os_data, &mut b.file_name],
            FddBody::End | FddBody::Other => Vec::new(),
        }
    }
}

/// One FDD entry (also the layout of a set map's volume entries).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FddEntry {
    /// The header.
    pub header: FddHeader,
    /// The type-specific fixed part.
    pub body: FddBody,
    /// The bytes from the end of the fixed part to the entry's Length, verbatim (pads, strings,
    /// OS data; for FEND, any zero fill its Length covers).
    pub var_area: Vec<u8>,
}

impl FddEntry {
    /// An entry of `body`'s type with an empty header; lay it out with
    /// [`FddEntry::write_fixed`].
    pub fn new(entry_type: BlockType, body: FddBody) -> FddEntry {
        FddEntry {
            header: FddHeader::new(entry_type),
            body,
            var_area: Vec::new(),
        }
    }

    /// An FEND entry (header only).
    pub fn fend() -> FddEntry {
        let mut e = Self::new(FEND, FddBody::End);
        e.header.length = FDD_HDR_LEN as u16;
        e
    }

    /// The entry type.
    pub fn entry_type(&self) -> BlockType {
        self.header.entry_type
    }

    /// Parses the entry at the start of `bytes`; returns it and the bytes it spans (its
    /// Length; an FEND whose Length is below 36 spans its 36-byte header).
    pub fn parse(bytes: &[u8]) -> Result<(FddEntry, usize)> {
        let header = FddHeader::parse(bytes)?;
        let fixed_end = FDD_HDR_LEN + FddBody::fixed_len(header.entry_type);
        let stored = header.length as usize;
        let len = if header.entry_type == FEND {
            stored.max(FDD_HDR_LEN)
        } else {
            stored
        };
        if len < fixed_end {
            return Err(Error::invalid(
                0,
                "FDD entry length",
                format!(
                    "{stored} is shorter than the {fixed_end}-byte {} entry",
                    header.entry_type
                ),
            ));
        }
        let entry = slice_at(bytes, 0, len, "FDD entry")?;
        let fixed = &entry[FDD_HDR_LEN..fixed_end];
        let at = |e: Error| e.at(FDD_HDR_LEN as u64);
        let body = match header.entry_type {
            BlockType::VOLB => FddBody::Volb(FddVolb::parse(fixed, entry).map_err(at)?),
            BlockType::DIRB => FddBody::Dirb(FddDirb::parse(fixed, entry).map_err(at)?),
            BlockType::FILE => FddBody::File(FddFile::parse(fixed, entry).map_err(at)?),
            FEND => FddBody::End,
            _ => FddBody::Other,
        };
        Ok((
            FddEntry {
                header,
                body,
                var_area: entry[fixed_end..].to_vec(),
            },
            len,
        ))
    }

    /// Writes the entry exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        self.header.write(out);
        self.body.write(out);
        out.extend_from_slice(&self.var_area);
    }

    /// Lays the entry out afresh (see the module docs) and writes it; Length and addresses are
    /// recomputed and `self` updated. FEND and unknown entries keep their variable area (an
    /// FEND's zero fill is the caller's choice).
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let fixed_end = FDD_HDR_LEN + FddBody::fixed_len(self.header.entry_type);
        if matches!(
            self.body,
            FddBody::Volb(_) | FddBody::Dirb(_) | FddBody::File(_)
        ) {
            self.var_area = lay_out(fixed_end, self.body.texts_mut())?;
        }
        self.header.length = to_u16(fixed_end + self.var_area.len(), "FDD entry length")?;
        self.write_raw(out);
        Ok(())
    }

    /// The entry's size as held.
    pub fn encoded_len(&self) -> usize {
        FDD_HDR_LEN + FddBody::fixed_len(self.header.entry_type) + self.var_area.len()
    }

    /// The string type of the entry's names.
    pub fn string_type(&self) -> StringType {
        self.header.string_type
    }

    /// The entry's name, decoded: device name for a VOLB, path for a DIRB (NUL separators
    /// kept), file name for a FILE.
    pub fn name(&self) -> Option<String> {
        let st = self.header.string_type;
        match &self.body {
            FddBody::Volb(b) => Some(b.device_name.decode(st)),
            FddBody::Dirb(b) => Some(b.directory_name.decode(st)),
            FddBody::File(b) => Some(b.file_name.decode(st)),
            _ => None,
        }
    }

    /// The OS-specific data, decoded like a DBLK's (by entry type, OS id and version, size).
    pub fn os_data(&self) -> OsData {
        let raw: &[u8] = match &self.body {
            FddBody::Volb(b) => &b.os_data.raw,
            FddBody::Dirb(b) => &b.os_data.raw,
            FddBody::File(b) => &b.os_data.raw,
            _ => &[],
        };
        OsData::decode(
            self.header.entry_type,
            self.header.os_id,
            self.header.os_version,
            raw,
        )
    }
}

/// The entries of a TFDD stream, in order, each with its offset in the payload. Ends after the
/// FEND entry; yields an error (and then ends) at a bad entry or if the data ends first, so a
/// reader of a damaged or aborted FDD still gets every entry before the damage.
#[derive(Clone, Debug)]
pub struct FddEntries<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> FddEntries<'a> {
    /// Where the next entry would start (after FEND: where the trailing bytes start).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for FddEntries<'_> {
    type Item = Result<(usize, FddEntry)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.pos;
        let Some(rest) = self.data.get(at..).filter(|r| !r.is_empty()) else {
            self.done = true;
            return Some(Err(Error::truncated(
                at,
                "FDD entry (the data ends before FEND)",
                FDD_HDR_LEN,
                0,
            )));
        };
        match FddEntry::parse(rest) {
            Ok((e, len)) => {
                self.pos = at + len;
                self.done = e.entry_type() == FEND;
                Some(Ok((at, e)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.at(at as u64)))
            }
        }
    }
}

/// A TFDD payload: the entries, FEND last, and whatever follows FEND.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Fdd {
    /// The entries, in order.
    pub entries: Vec<FddEntry>,
    /// Bytes after the FEND entry (zero fill to a block boundary), verbatim.
    pub trailing: Vec<u8>,
}

impl Fdd {
    /// Iterates the entries of a TFDD payload (see [`FddEntries`]).
    pub fn entries(data: &[u8]) -> FddEntries<'_> {
        FddEntries {
            data,
            pos: 0,
            done: false,
        }
    }

    /// Decodes a whole TFDD payload; it must end with an FEND entry (then any trailing bytes).
    pub fn decode(data: &[u8]) -> Result<Fdd> {
        let mut it = Self::entries(data);
        let mut entries = Vec::new();
        for r in it.by_ref() {
            entries.push(r?.1);
        }
        Ok(Fdd {
            entries,
            trailing: data[it.position()..].to_vec(),
        })
    }

    /// Writes every entry as held, then the trailing bytes.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        for e in &self.entries {
            e.write_raw(out);
        }
        out.extend_from_slice(&self.trailing);
    }

    /// The payload as held.
    pub fn encode_raw(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_raw(&mut v);
        v
    }

    /// Lays every entry out afresh ([`FddEntry::write_fixed`]) and writes them, then the
    /// trailing bytes. Does not add an FEND: push [`FddEntry::fend`] last.
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        for e in &mut self.entries {
            e.write_fixed(out)?;
        }
        out.extend_from_slice(&self.trailing);
        Ok(())
    }

    /// [`Fdd::write_fixed`] into a new buffer.
    pub fn encode_fixed(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_fixed(&mut v)?;
        Ok(v)
    }
}

/// Where a set map entry's volume entries lie, relative to the entry's Length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum VolumePlacement {
    /// After the entry's Length (SQL Server; Backup Exec's SMP2).
    #[default]
    AfterEntry,
    /// Inside the entry's Length, after the fixed part (and strings).
    InsideEntry,
}

/// MTF_SM_ENTRY: one data set in the set map, with its volume entries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SetMapEntry {
    /// The entry's size including strings (and, with [`VolumePlacement::InsideEntry`], its
    /// volume entries). As stored; the fixed writer recomputes it.
    pub length: u16,
    /// Media sequence number (1 for the first medium).
    pub media_sequence_number: u16,
    /// Copy of the SSET's attribute word.
    pub block_attributes: BlockAttributes,
    /// Sset attributes.
    pub sset_attributes: SetAttributes,
    /// Where the SSET is (SQL Server: its byte offset in the file).
    pub sset_pba: u64,
    /// Where the set's FDD is (0 when there is none).
    pub fdd_pba: u64,
    /// Fdd media sequence number.
    pub fdd_media_sequence_number: u16,
    /// Data set number (1-based in the family).
    pub data_set_number: u16,
    /// Format logical address (FLB index from the set's start).
    pub format_logical_address: u64,
    /// Number of directories.
    pub number_of_directories: u32,
    /// Number of files.
    pub number_of_files: u32,
    /// Number of corrupt files.
    pub number_of_corrupt_files: u32,
    /// Data set displayable size.
    pub data_set_displayable_size: u64,
    /// As stored; the fixed writer sets it to `volumes.len()`.
    pub number_of_volumes: u16,
    /// Password encryption algorithm.
    pub password_encryption_algorithm: u16,
    /// Data set name, as stored (decode with the block's string type).
    pub data_set_name: MtfText,
    /// Note the order: password before description, unlike the SSET.
    pub data_set_password: MtfText,
    /// Data set description, as stored (decode with the block's string type).
    pub data_set_description: MtfText,
    /// User name, as stored (decode with the block's string type).
    pub user_name: MtfText,
    /// Media write date (all zero: unknown).
    pub media_write_date: MtfDateTime,
    /// Offset from UTC in 15-minute units; 127 means local time.
    pub time_zone: i8,
    /// OS id of the OS-specific data.
    pub os_id: OsId,
    /// Version of the OS-specific data's layout.
    pub os_version: u8,
    /// How the strings are encoded.
    pub string_type: StringType,
    /// Mtf minor version.
    pub mtf_minor_version: u8,
    /// Media catalog version.
    pub media_catalog_version: u8,
    /// Bytes from the end of the 91-byte fixed part to the entry's Length (after-entry volumes)
    /// or to the first volume entry (inside-entry volumes), verbatim: pad and strings.
    pub var_area: Vec<u8>,
    /// Placement.
    pub placement: VolumePlacement,
    /// The set's volumes, FDD VOLB entries.
    pub volumes: Vec<FddEntry>,
    /// Inside-entry volumes only: bytes after the last volume up to the entry's Length.
    pub tail: Vec<u8>,
}

/// The fixed fields of a set map entry, in on-media order.
type SmFixed = (
    [u16; 2],
    [u32; 2],
    [u64; 2],
    [u16; 2],
    u64,
    [u32; 3],
    u64,
    [u16; 2],
    [TapeAddress; 4],
    [u8; 5],
    [u8; 6],
);

impl SetMapEntry {
    /// Size of the fixed part.
    pub const FIXED_LEN: usize = 91;

    fn parse_fixed(bytes: &[u8]) -> Result<SmFixed> {
        let (f, _) = run(bytes, "set map entry", Self::FIXED_LEN, |i| {
            let (i, length) = le_u16(i)?;
            let (i, seq) = le_u16(i)?;
            let (i, battr) = le_u32(i)?;
            let (i, sattr) = le_u32(i)?;
            let (i, sset_pba) = le_u64(i)?;
            let (i, fdd_pba) = le_u64(i)?;
            let (i, fdd_seq) = le_u16(i)?;
            let (i, set_no) = le_u16(i)?;
            let (i, fla) = le_u64(i)?;
            let (i, dirs) = le_u32(i)?;
            let (i, files) = le_u32(i)?;
            let (i, corrupt) = le_u32(i)?;
            let (i, size) = le_u64(i)?;
            let (i, vols) = le_u16(i)?;
            let (i, pw_alg) = le_u16(i)?;
            let (i, name) = TapeAddress::parse(i)?;
            let (i, pw) = TapeAddress::parse(i)?;
            let (i, desc) = TapeAddress::parse(i)?;
            let (i, user) = TapeAddress::parse(i)?;
            let (i, date) = array::<5>(i)?;
            let (i, tail) = array::<6>(i)?;
            Ok((
                i,
                (
                    [length, seq],
                    [battr, sattr],
                    [sset_pba, fdd_pba],
                    [fdd_seq, set_no],
                    fla,
                    [dirs, files, corrupt],
                    size,
                    [vols, pw_alg],
                    [name, pw, desc, user],
                    date,
                    tail,
                ),
            ))
        })?;
        Ok(f)
    }

    /// Parses the entry at the start of `bytes` and its volume entries; returns it and the
    /// bytes it spans (volume entries after the Length included).
    pub fn parse(bytes: &[u8]) -> Result<(SetMapEntry, usize)> {
        let (
            [length, seq],
            [battr, sattr],
            [sset_pba, fdd_pba],
            [fdd_seq, set_no],
            fla,
            counts,
            size,
            [vols, pw_alg],
            [name, pw, desc, user],
            date,
            t,
        ) = Self::parse_fixed(bytes)?;
        let len = length as usize;
        if len < Self::FIXED_LEN {
            return Err(Error::invalid(
                0,
                "set map entry length",
                format!("{len} is shorter than the 91-byte fixed part"),
            ));
        }
        let entry = slice_at(bytes, 0, len, "set map entry")?;
        let texts = [
            resolve(name, entry, "data set name", 64)?,
            resolve(pw, entry, "data set password", 68)?,
            resolve(desc, entry, "data set description", 72)?,
            resolve(user, entry, "user name", 76)?,
        ];
        let (placement, var_end, volumes, tail_range, span) = if vols == 0 {
            (VolumePlacement::AfterEntry, len, Vec::new(), len..len, len)
        } else {
            match parse_volumes(&bytes[len..], vols) {
                Ok((v, vlen)) => (VolumePlacement::AfterEntry, len, v, len..len, len + vlen),
                Err(after) => match find_inside(entry, &texts, vols) {
                    Some((p, v, vlen)) => (VolumePlacement::InsideEntry, p, v, p + vlen..len, len),
                    None => return Err(after.at(len as u64)),
                },
            }
        };
        let [data_set_name, data_set_password, data_set_description, user_name] = texts;
        Ok((
            SetMapEntry {
                length,
                media_sequence_number: seq,
                block_attributes: BlockAttributes::from_bits_retain(battr),
                sset_attributes: SetAttributes::from_bits_retain(sattr),
                sset_pba,
                fdd_pba,
                fdd_media_sequence_number: fdd_seq,
                data_set_number: set_no,
                format_logical_address: fla,
                number_of_directories: counts[0],
                number_of_files: counts[1],
                number_of_corrupt_files: counts[2],
                data_set_displayable_size: size,
                number_of_volumes: vols,
                password_encryption_algorithm: pw_alg,
                data_set_name,
                data_set_password,
                data_set_description,
                user_name,
                media_write_date: MtfDateTime(date),
                time_zone: t[0] as i8,
                os_id: OsId(t[1]),
                os_version: t[2],
                string_type: StringType(t[3]),
                mtf_minor_version: t[4],
                media_catalog_version: t[5],
                var_area: entry[Self::FIXED_LEN..var_end].to_vec(),
                placement,
                volumes,
                tail: entry[tail_range].to_vec(),
            },
            span,
        ))
    }

    fn write_fixed_part(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.media_sequence_number.to_le_bytes());
        out.extend_from_slice(&self.block_attributes.bits().to_le_bytes());
        out.extend_from_slice(&self.sset_attributes.bits().to_le_bytes());
        out.extend_from_slice(&self.sset_pba.to_le_bytes());
        out.extend_from_slice(&self.fdd_pba.to_le_bytes());
        out.extend_from_slice(&self.fdd_media_sequence_number.to_le_bytes());
        out.extend_from_slice(&self.data_set_number.to_le_bytes());
        out.extend_from_slice(&self.format_logical_address.to_le_bytes());
        out.extend_from_slice(&self.number_of_directories.to_le_bytes());
        out.extend_from_slice(&self.number_of_files.to_le_bytes());
        out.extend_from_slice(&self.number_of_corrupt_files.to_le_bytes());
        out.extend_from_slice(&self.data_set_displayable_size.to_le_bytes());
        out.extend_from_slice(&self.number_of_volumes.to_le_bytes());
        out.extend_from_slice(&self.password_encryption_algorithm.to_le_bytes());
        self.data_set_name.addr.write(out);
        self.data_set_password.addr.write(out);
        self.data_set_description.addr.write(out);
        self.user_name.addr.write(out);
        out.extend_from_slice(&self.media_write_date.0);
        out.push(self.time_zone as u8);
        out.push(self.os_id.0);
        out.push(self.os_version);
        out.push(self.string_type.0);
        out.push(self.mtf_minor_version);
        out.push(self.media_catalog_version);
    }

    /// Writes the entry and its volumes exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        self.write_fixed_part(out);
        out.extend_from_slice(&self.var_area);
        for v in &self.volumes {
            v.write_raw(out);
        }
        out.extend_from_slice(&self.tail);
    }

    /// Lays the entry out afresh: strings from offset 92 in field order, then (inside-entry
    /// placement) the volume entries, each laid out afresh; Length, addresses and the number
    /// of volumes are recomputed and `self` updated. The tail is dropped.
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.number_of_volumes = to_u16(self.volumes.len(), "number of volumes")?;
        self.var_area = lay_out(
            Self::FIXED_LEN,
            vec![
                &mut self.data_set_name,
                &mut self.data_set_password,
                &mut self.data_set_description,
                &mut self.user_name,
            ],
        )?;
        let mut vols = Vec::new();
        for v in &mut self.volumes {
            v.write_fixed(&mut vols)?;
        }
        self.tail.clear();
        let mut len = Self::FIXED_LEN + self.var_area.len();
        if self.placement == VolumePlacement::InsideEntry {
            len += vols.len();
        }
        self.length = to_u16(len, "set map entry length")?;
        self.write_fixed_part(out);
        out.extend_from_slice(&self.var_area);
        out.extend_from_slice(&vols);
        Ok(())
    }

    /// The bytes the entry spans as held, volumes included.
    pub fn encoded_len(&self) -> usize {
        Self::FIXED_LEN
            + self.var_area.len()
            + self
                .volumes
                .iter()
                .map(FddEntry::encoded_len)
                .sum::<usize>()
            + self.tail.len()
    }
}

/// Parses `n` FDD VOLB entries from the start of `bytes`.
fn parse_volumes(bytes: &[u8], n: u16) -> Result<(Vec<FddEntry>, usize)> {
    let mut v = Vec::new();
    let mut pos = 0usize;
    for _ in 0..n {
        let (e, len) = FddEntry::parse(&bytes[pos..]).map_err(|e| e.at(pos as u64))?;
        if e.entry_type() != BlockType::VOLB {
            return Err(Error::invalid(
                pos + 2,
                "set map volume entry type",
                format!("{} where a VOLB entry belongs", e.entry_type()),
            ));
        }
        v.push(e);
        pos += len;
    }
    Ok((v, pos))
}

/// Looks for volume entries inside a set map entry: the first `VOLB` tag after the fixed part
/// that is not inside one of the entry's strings starts them.
fn find_inside(entry: &[u8], texts: &[MtfText], n: u16) -> Option<(usize, Vec<FddEntry>, usize)> {
    let in_text = |p: usize| {
        texts.iter().any(|t| {
            let s = t.addr.offset as usize;
            !t.raw.is_empty() && p < s + t.raw.len() && s < p + 6
        })
    };
    let p = (SetMapEntry::FIXED_LEN..entry.len())
        .find(|&p| entry.get(p + 2..p + 6) == Some(&BlockType::VOLB.0[..]) && !in_text(p))?;
    let (v, vlen) = parse_volumes(&entry[p..], n).ok()?;
    Some((p, v, vlen))
}

/// A TSMP payload: MTF_SM_HDR and the set map entries, cumulative over the media family.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SetMap {
    /// Same as the TAPE block's.
    pub media_family_id: u32,
    /// As stored; the fixed writer sets it to `entries.len()`.
    pub number_of_entries: u16,
    /// Padding, kept verbatim.
    pub pad: [u8; 2],
    /// The entries, in order.
    pub entries: Vec<SetMapEntry>,
    /// Bytes after the last entry's volumes, verbatim (none in any SQL Server sample).
    pub trailing: Vec<u8>,
}

impl SetMap {
    /// Decodes a TSMP payload: the header, then as many entries as it says.
    pub fn decode(data: &[u8]) -> Result<SetMap> {
        let ((media_family_id, number_of_entries, pad), _) =
            run(data, "set map header", SM_HDR_LEN, |i| {
                let (i, id) = le_u32(i)?;
                let (i, n) = le_u16(i)?;
                let (i, pad) = array::<2>(i)?;
                Ok((i, (id, n, pad)))
            })?;
        let mut entries = Vec::new();
        let mut pos = SM_HDR_LEN;
        for _ in 0..number_of_entries {
            let (e, len) = SetMapEntry::parse(&data[pos..]).map_err(|e| e.at(pos as u64))?;
            entries.push(e);
            pos += len;
        }
        Ok(SetMap {
            media_family_id,
            number_of_entries,
            pad,
            entries,
            trailing: data[pos..].to_vec(),
        })
    }

    /// Writes the set map exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.media_family_id.to_le_bytes());
        out.extend_from_slice(&self.number_of_entries.to_le_bytes());
        out.extend_from_slice(&self.pad);
        for e in &self.entries {
            e.write_raw(out);
        }
        out.extend_from_slice(&self.trailing);
    }

    /// The payload as held.
    pub fn encode_raw(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_raw(&mut v);
        v
    }

    /// Lays every entry out afresh ([`SetMapEntry::write_fixed`]), recomputes the number of
    /// entries, and writes the set map; the trailing bytes are kept. `self` is updated.
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.number_of_entries = to_u16(self.entries.len(), "number of set map entries")?;
        out.extend_from_slice(&self.media_family_id.to_le_bytes());
        out.extend_from_slice(&self.number_of_entries.to_le_bytes());
        out.extend_from_slice(&self.pad);
        for e in &mut self.entries {
            e.write_fixed(out)?;
        }
        out.extend_from_slice(&self.trailing);
        Ok(())
    }

    /// [`SetMap::write_fixed`] into a new buffer.
    pub fn encode_fixed(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_fixed(&mut v)?;
        Ok(v)
    }

    /// The entry for a data set number, if the map has one.
    pub fn entry_for_set(&self, data_set_number: u16) -> Option<&SetMapEntry> {
        self.entries
            .iter()
            .find(|e| e.data_set_number == data_set_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os_data::OsData;
    use crate::spec::NtFileAttributes;

    const ST: StringType = StringType::UNICODE;
    const DATE: MtfDateTime = MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]);

    fn volb_entry(device: &str, volume: &str, machine: &str) -> FddEntry {
        let mut e = FddEntry::new(
            BlockType::VOLB,
            FddBody::Volb(FddVolb {
                attributes: VolumeAttributes::DEV_DRIVE,
                device_name: MtfText::encode(device, ST),
                volume_name: MtfText::encode(volume, ST),
                machine_name: MtfText::encode(machine, ST),
                os_data: MtfText::default(),
                media_write_date: DATE,
            }),
        );
        e.header.media_sequence_number = 1;
        e.header.format_logical_address = 1;
        e.header.os_id = OsId::WINDOWS_NT;
        e.header.os_version = 1;
        e.header.string_type = ST;
        e
    }

    fn sm_entry(set: u16, name: &str, user: &str, volumes: Vec<FddEntry>) -> SetMapEntry {
        SetMapEntry {
            length: 0,
            media_sequence_number: 1,
            block_attributes: BlockAttributes::empty(),
            sset_attributes: SetAttributes::NORMAL,
            sset_pba: 0x600,
            fdd_pba: 0,
            fdd_media_sequence_number: 0,
            data_set_number: set,
            format_logical_address: 0,
            number_of_directories: 0,
            number_of_files: 0,
            number_of_corrupt_files: 0,
            data_set_displayable_size: 0x12_3400,
            number_of_volumes: 0,
            password_encryption_algorithm: 0,
            data_set_name: MtfText::encode(name, ST),
            data_set_password: MtfText::default(),
            data_set_description: MtfText::default(),
            user_name: MtfText::encode(user, ST),
            media_write_date: DATE,
            time_zone: -12,
            os_id: OsId::WINDOWS_NT,
            os_version: 1,
            string_type: ST,
            mtf_minor_version: 0,
            media_catalog_version: 2,
            var_area: Vec::new(),
            placement: VolumePlacement::AfterEntry,
            volumes,
            tail: Vec::new(),
        }
    }

    fn set_map() -> (SetMap, Vec<u8>) {
        let mut m = SetMap {
            media_family_id: 0xFA94_1F3F,
            number_of_entries: 0,
            pad: [0; 2],
            entries: vec![sm_entry(
                1,
                "Full",
                "sa",
                vec![volb_entry("C:", "", "HOST")],
            )],
            trailing: Vec::new(),
        };
        let bytes = m.encode_fixed().unwrap();
        (m, bytes)
    }

    fn u16_at(b: &[u8], o: usize) -> u16 {
        crate::parse::u16_at(b, o).expect("in range")
    }

    #[test]
    fn set_map_fixed_layout_is_the_sql_server_layout() {
        let (m, b) = set_map();
        assert_eq!(&b[..8], [0x3F, 0x1F, 0x94, 0xFA, 1, 0, 0, 0]);
        assert_eq!(m.number_of_entries, 1);
        // Entry at 8: 91 fixed + 1 zero + "Full" (8) + "sa" (4) = 104; volumes after it.
        let e = &b[8..];
        assert_eq!(u16_at(e, 0), 104);
        assert_eq!(u16_at(e, 30), 1, "data set number");
        assert_eq!(u16_at(e, 60), 1, "number of volumes");
        assert_eq!((u16_at(e, 64), u16_at(e, 66)), (8, 92), "name");
        assert_eq!((u16_at(e, 68), u16_at(e, 70)), (0, 0), "password");
        assert_eq!((u16_at(e, 76), u16_at(e, 78)), (4, 100), "user");
        assert_eq!(e[85], 0xF4, "time zone -12");
        assert_eq!(e[91], 0, "pad before the strings");
        assert_eq!(&e[92..100], b"F\0u\0l\0l\0");
        // Volume entry at entry + 104: 36 header + 25 fixed + 1 zero + "C:" (4) + "HOST" (8).
        let v = &e[104..];
        assert_eq!(u16_at(v, 0), 74);
        assert_eq!(&v[2..6], b"VOLB");
        assert_eq!(v[32..36], [14, 1, 2, 0]);
        assert_eq!((u16_at(v, 40), u16_at(v, 42)), (4, 62), "device");
        assert_eq!((u16_at(v, 44), u16_at(v, 46)), (0, 0), "volume");
        assert_eq!((u16_at(v, 48), u16_at(v, 50)), (8, 66), "machine");
        assert_eq!(&v[56..61], DATE.0);
        assert_eq!(b.len(), 8 + 104 + 74);

        let d = SetMap::decode(&b).unwrap();
        assert_eq!(d, m);
        assert_eq!(d.entries[0].placement, VolumePlacement::AfterEntry);
        assert_eq!(d.encode_raw(), b);
        assert_eq!(d.entries[0].encoded_len(), 104 + 74);
        let e = d.entry_for_set(1).unwrap();
        assert_eq!(e.data_set_name.decode(e.string_type), "Full");
        assert_eq!(e.volumes[0].name().unwrap(), "C:");
        assert!(d.entry_for_set(2).is_none());
    }

    #[test]
    fn volumes_inside_the_entry_length_round_trip() {
        let (mut m, _) = set_map();
        m.entries[0].placement = VolumePlacement::InsideEntry;
        let b = m.encode_fixed().unwrap();
        assert_eq!(u16_at(&b, 8), 104 + 74, "Length covers the volume");
        let d = SetMap::decode(&b).unwrap();
        assert_eq!(d.entries[0].placement, VolumePlacement::InsideEntry);
        assert_eq!(d.entries[0].var_area.len(), 104 - 91);
        assert_eq!(d.entries[0].volumes.len(), 1);
        assert_eq!(d.encode_raw(), b);

        // Hand-made: strings *after* the volume and two stray bytes after everything.
        let mut e = sm_entry(1, "", "", Vec::new());
        e.number_of_volumes = 1;
        let mut vol = Vec::new();
        volb_entry("D:", "", "").write_fixed(&mut vol).unwrap();
        let name_at = 92 + vol.len();
        e.data_set_name = MtfText {
            addr: TapeAddress {
                size: 4,
                offset: name_at as u16,
            },
            raw: b"X\0Y\0".to_vec(),
        };
        e.length = (name_at + 4 + 2) as u16;
        let mut b = vec![1, 0, 0, 0, 1, 0, 0, 0];
        e.write_fixed_part(&mut b);
        b.push(0xEE);
        b.extend_from_slice(&vol);
        b.extend_from_slice(b"X\0Y\0\x07\x07");
        let d = SetMap::decode(&b).unwrap();
        let de = &d.entries[0];
        assert_eq!(de.placement, VolumePlacement::InsideEntry);
        assert_eq!(de.var_area, [0xEE]);
        assert_eq!(de.tail, b"X\0Y\0\x07\x07");
        assert_eq!(de.data_set_name.decode(ST), "XY");
        assert_eq!(de.volumes[0].name().unwrap(), "D:");
        assert_eq!(d.encode_raw(), b);
    }

    #[test]
    fn strings_in_another_order_round_trip_raw_and_relayout_fixed() {
        // User name stored before the data set name, with a gap.
        let mut e = sm_entry(7, "", "", Vec::new());
        e.user_name = MtfText {
            addr: TapeAddress {
                size: 2,
                offset: 95,
            },
            raw: b"u\0".to_vec(),
        };
        e.data_set_name = MtfText {
            addr: TapeAddress {
                size: 2,
                offset: 99,
            },
            raw: b"n\0".to_vec(),
        };
        e.length = 101;
        let mut b = vec![9, 9, 9, 9, 1, 0, 0xAA, 0xBB];
        e.write_fixed_part(&mut b);
        b.extend_from_slice(&[0, 0, 0, 0, b'u', 0, 0, 0, b'n', 0]);
        b.extend_from_slice(b"trail");
        let mut d = SetMap::decode(&b).unwrap();
        assert_eq!(d.pad, [0xAA, 0xBB]);
        assert_eq!(d.trailing, b"trail");
        assert_eq!(d.encode_raw(), b);
        let fixed = d.encode_fixed().unwrap();
        let again = SetMap::decode(&fixed).unwrap();
        assert_eq!(again.entries[0].data_set_name.addr.offset, 92);
        assert_eq!(again.entries[0].user_name.addr.offset, 94);
        assert_eq!(again.entries[0].user_name.decode(ST), "u");
        assert_eq!(again.trailing, b"trail");
    }

    #[test]
    fn bad_set_map_entries_are_typed_errors_with_offsets() {
        let (_, b) = set_map();
        let mut bad = b.clone();
        bad[8] = 90; // Length below the fixed part.
        assert!(matches!(
            SetMap::decode(&bad),
            Err(Error::Invalid { offset: 8, .. })
        ));
        let mut bad = b.clone();
        bad[8 + 66] = 200; // Name address beyond the entry.
        let err = SetMap::decode(&bad).unwrap_err();
        assert!(
            matches!(err, Error::AddressOutOfRange { offset: 72, .. }),
            "{err}"
        );
        let mut bad = b.clone();
        bad[8 + 104 + 2..8 + 104 + 6].copy_from_slice(b"DIRB");
        let err = SetMap::decode(&bad).unwrap_err();
        assert!(err.offset().is_some(), "{err}");
    }

    fn fdd() -> (Fdd, Vec<u8>) {
        let mut dir = FddEntry::new(
            BlockType::DIRB,
            FddBody::Dirb(FddDirb {
                dates: ObjectDates {
                    last_modification: DATE,
                    ..ObjectDates::default()
                },
                attributes: DirectoryAttributes::empty(),
                directory_name: MtfText {
                    addr: TapeAddress::default(),
                    raw: crate::text::join_dir_path(&["apps"], ST),
                },
                os_data: MtfText {
                    addr: TapeAddress::default(),
                    raw: OsData::NtDirectory0 {
                        attributes: NtFileAttributes::DIRECTORY,
                    }
                    .encode(),
                },
            }),
        );
        dir.header.os_id = OsId::WINDOWS_NT;
        dir.header.string_type = ST;
        dir.header.format_logical_address = 2;
        let mut file = FddEntry::new(
            BlockType::FILE,
            FddBody::File(FddFile {
                dates: ObjectDates::default(),
                attributes: FileAttributes::MODIFIED,
                file_name: MtfText::encode("a.txt", ST),
                os_data: MtfText::default(),
            }),
        );
        file.header.string_type = ST;
        file.header.displayable_size = 1234;
        file.header.link = 74;
        let mut fend = FddEntry::fend();
        fend.var_area = vec![0; 12];
        let mut f = Fdd {
            entries: vec![volb_entry("C:", "", "HOST"), dir, file, fend],
            trailing: vec![0; 6],
        };
        let bytes = f.encode_fixed().unwrap();
        (f, bytes)
    }

    #[test]
    fn fdd_fixed_layout_and_round_trip() {
        let (f, b) = fdd();
        // VOLB 74; DIRB 68 + OS data 4 + "apps\0" 10 = 82; FILE 68 + "a.txt" 10 = 78;
        // FEND 36 + 12 zero; 6 trailing.
        assert_eq!(b.len(), 74 + 82 + 78 + 48 + 6);
        let dirb = &b[74..];
        assert_eq!(u16_at(dirb, 0), 82);
        assert_eq!(&dirb[2..6], b"DIRB");
        assert_eq!(
            (u16_at(dirb, 64), u16_at(dirb, 66)),
            (4, 68),
            "OS data first"
        );
        assert_eq!(
            (u16_at(dirb, 60), u16_at(dirb, 62)),
            (10, 72),
            "then the name"
        );
        let file = &b[156..];
        assert_eq!(i32::from_le_bytes(file[28..32].try_into().unwrap()), 74);
        assert_eq!(u64::from_le_bytes(file[20..28].try_into().unwrap()), 1234);
        assert_eq!(&b[234..240], [48, 0, b'F', b'E', b'N', b'D']);

        let d = Fdd::decode(&b).unwrap();
        assert_eq!(d, f);
        assert_eq!(d.encode_raw(), b);
        assert_eq!(d.trailing.len(), 6);
        assert_eq!(
            d.entries[1].os_data(),
            OsData::NtDirectory0 {
                attributes: NtFileAttributes::DIRECTORY
            }
        );
        let FddBody::Dirb(dir) = &d.entries[1].body else {
            panic!("not a DIRB")
        };
        assert_eq!(dir.dates.last_modification, DATE);
        assert_eq!(d.entries[2].name().unwrap(), "a.txt");
        let offsets: Vec<usize> = Fdd::entries(&b).map(|r| r.unwrap().0).collect();
        assert_eq!(offsets, [0, 74, 156, 234]);
    }

    #[test]
    fn fend_with_a_zero_length_and_unknown_entries_round_trip() {
        let mut b = Vec::new();
        let mut other = FddEntry::new(BlockType(*b"XTRA"), FddBody::Other);
        other.var_area = b"vendor".to_vec();
        other.write_fixed(&mut b).unwrap();
        let mut fend = FddEntry::fend();
        fend.header.length = 0;
        fend.write_raw(&mut b);
        let d = Fdd::decode(&b).unwrap();
        assert_eq!(d.entries.len(), 2);
        assert_eq!(d.entries[0].var_area, b"vendor");
        assert_eq!(d.entries[1].body, FddBody::End);
        assert!(d.trailing.is_empty());
        assert_eq!(d.encode_raw(), b);
    }

    #[test]
    fn fdd_without_fend_is_truncated_and_iteration_keeps_what_came_before() {
        let (_, b) = fdd();
        let cut = &b[..234];
        let err = Fdd::decode(cut).unwrap_err();
        assert!(matches!(err, Error::Truncated { offset: 234, .. }), "{err}");
        let got: Vec<_> = Fdd::entries(cut).collect();
        assert_eq!(got.len(), 4);
        assert!(got[..3].iter().all(|r| r.is_ok()));
        assert!(got[3].is_err());
        let mut bad = b.clone();
        bad[74] = 10; // DIRB Length below its fixed part.
        assert!(matches!(
            Fdd::decode(&bad),
            Err(Error::Invalid { offset: 74, .. })
        ));
    }

    #[test]
    fn hostile_truncations_are_errors_not_panics() {
        let (_, b) = set_map();
        for cut in 0..b.len() {
            let e = SetMap::decode(&b[..cut]).unwrap_err();
            assert!(e.offset().is_some(), "cut {cut}: {e}");
        }
        let (_, b) = fdd();
        let fend_end = b.len() - 6;
        for cut in 0..b.len() {
            match Fdd::decode(&b[..cut]) {
                Ok(d) => {
                    assert!(cut >= fend_end, "cut {cut} decoded");
                    assert_eq!(d.encode_raw(), &b[..cut]);
                }
                Err(e) => {
                    assert!(cut < fend_end, "cut {cut}: {e}");
                    assert!(e.offset().is_some(), "cut {cut}: {e}");
                }
            }
        }
    }

    #[test]
    fn hostile_byte_changes_decode_to_what_was_read_or_fail() {
        for (bytes, is_map) in [(set_map().1, true), (fdd().1, false)] {
            for i in 0..bytes.len() {
                for x in [0x01u8, 0x80, 0xFF] {
                    let mut b = bytes.clone();
                    b[i] ^= x;
                    let back = if is_map {
                        SetMap::decode(&b).map(|m| m.encode_raw())
                    } else {
                        Fdd::decode(&b).map(|f| f.encode_raw())
                    };
                    match back {
                        Ok(v) => assert_eq!(v, b, "byte {i} ^ {x:#x}"),
                        Err(e) => assert!(e.offset().is_some(), "{e}"),
                    }
                }
            }
        }
    }
}
