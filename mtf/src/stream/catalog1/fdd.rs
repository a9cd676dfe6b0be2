//! The TFDD stream: file/directory detail entries (VOLB, DIRB, FILE, FEND), parsed and written
//! side by side.

use super::{lay_out, resolve, to_u16, FDD_HDR_LEN, FEND};
use crate::block::ObjectDates;
use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::os_data::OsData;
use crate::parse::{array, le_i32, le_u16, le_u32, le_u64, le_u8, run, slice_at};
use crate::spec::{
    BlockAttributes, BlockType, DirectoryAttributes, FileAttributes, OsId, StringType,
    VolumeAttributes,
};
use crate::text::{MtfText, TapeAddress};

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
        out.put_le(self.length);
        out.extend_from_slice(&self.entry_type.0);
        out.put_le(self.media_sequence_number);
        out.put_le(self.block_attributes.bits());
        out.put_le(self.format_logical_address);
        out.put_le(self.displayable_size);
        out.put_le(self.link);
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
        out.put_le(self.attributes.bits());
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
pub(super) fn parse_object(
    fixed: &[u8],
    entry: &[u8],
) -> Result<(ObjectDates, u32, MtfText, MtfText)> {
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
        out.put_le(self.attributes.bits());
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
        out.put_le(self.attributes.bits());
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
