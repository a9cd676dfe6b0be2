//! The TSMP stream: the set map, one entry per data set of the family with its volume entries.

use super::fdd::*;
use super::{lay_out, resolve, to_u16, SM_HDR_LEN};
use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u32, le_u64, run, slice_at};
use crate::spec::{BlockAttributes, BlockType, OsId, SetAttributes, StringType};
use crate::text::{MtfText, TapeAddress};

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

    pub(super) fn write_fixed_part(&self, out: &mut Vec<u8>) {
        out.put_le(self.length);
        out.put_le(self.media_sequence_number);
        out.put_le(self.block_attributes.bits());
        out.put_le(self.sset_attributes.bits());
        out.put_le(self.sset_pba);
        out.put_le(self.fdd_pba);
        out.put_le(self.fdd_media_sequence_number);
        out.put_le(self.data_set_number);
        out.put_le(self.format_logical_address);
        out.put_le(self.number_of_directories);
        out.put_le(self.number_of_files);
        out.put_le(self.number_of_corrupt_files);
        out.put_le(self.data_set_displayable_size);
        out.put_le(self.number_of_volumes);
        out.put_le(self.password_encryption_algorithm);
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
pub(super) fn parse_volumes(bytes: &[u8], n: u16) -> Result<(Vec<FddEntry>, usize)> {
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
pub(super) fn find_inside(
    entry: &[u8],
    texts: &[MtfText],
    n: u16,
) -> Option<(usize, Vec<FddEntry>, usize)> {
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
        out.put_le(self.media_family_id);
        out.put_le(self.number_of_entries);
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
        out.put_le(self.media_family_id);
        out.put_le(self.number_of_entries);
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
