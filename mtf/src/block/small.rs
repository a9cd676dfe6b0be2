//! The small fixed-layout blocks: CFIL, ESET, EOTM and SFMB (ESPB has no fields of its own).

use crate::date::MtfDateTime;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u32, le_u64, run};
use crate::spec::{CorruptAttributes, SetAttributes};

/// CFIL: a corrupt object; the named stream was zero-filled from `stream_offset` on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Cfil {
    pub attributes: CorruptAttributes,
    pub reserved: [u8; 8],
    /// Where the zero fill starts (uncompressed offset).
    pub stream_offset: u64,
    /// 1-based index among the preceding FILE's streams.
    pub corrupt_stream_number: u16,
}

impl Cfil {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 22;

    pub(crate) fn parse(fixed: &[u8]) -> Result<Cfil> {
        let ((a, reserved, off, n), _) = run(fixed, "CFIL block", Self::FIXED_LEN, |i| {
            let (i, a) = le_u32(i)?;
            let (i, r) = array::<8>(i)?;
            let (i, off) = le_u64(i)?;
            let (i, n) = le_u16(i)?;
            Ok((i, (a, r, off, n)))
        })?;
        Ok(Cfil {
            attributes: CorruptAttributes::from_bits_retain(a),
            reserved,
            stream_offset: off,
            corrupt_stream_number: n,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.attributes.bits().to_le_bytes());
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.stream_offset.to_le_bytes());
        out.extend_from_slice(&self.corrupt_stream_number.to_le_bytes());
    }
}

/// ESET: end of a data set. With a Type 1 catalog there are two: the first carries the FDD and
/// set map streams, the second records where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Eset {
    pub attributes: SetAttributes,
    pub number_of_corrupt_files: u32,
    /// Type 1: PBA of the TFDD stream header; Type 2: PBA of this ESET.
    pub reserved_for_mbc1: u64,
    /// Type 1: PBA of the TSMP stream header.
    pub reserved_for_mbc2: u64,
    pub fdd_media_sequence_number: u16,
    /// Same as the SSET's.
    pub data_set_number: u16,
    /// Same as the SSET's.
    pub media_write_date: MtfDateTime,
}

impl Eset {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 33;

    pub(crate) fn parse(fixed: &[u8]) -> Result<Eset> {
        let ((a, n, m1, m2, seq, set, date), _) = run(fixed, "ESET block", Self::FIXED_LEN, |i| {
            let (i, a) = le_u32(i)?;
            let (i, n) = le_u32(i)?;
            let (i, m1) = le_u64(i)?;
            let (i, m2) = le_u64(i)?;
            let (i, seq) = le_u16(i)?;
            let (i, set) = le_u16(i)?;
            let (i, date) = array::<5>(i)?;
            Ok((i, (a, n, m1, m2, seq, set, date)))
        })?;
        Ok(Eset {
            attributes: SetAttributes::from_bits_retain(a),
            number_of_corrupt_files: n,
            reserved_for_mbc1: m1,
            reserved_for_mbc2: m2,
            fdd_media_sequence_number: seq,
            data_set_number: set,
            media_write_date: MtfDateTime(date),
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.attributes.bits().to_le_bytes());
        out.extend_from_slice(&self.number_of_corrupt_files.to_le_bytes());
        out.extend_from_slice(&self.reserved_for_mbc1.to_le_bytes());
        out.extend_from_slice(&self.reserved_for_mbc2.to_le_bytes());
        out.extend_from_slice(&self.fdd_media_sequence_number.to_le_bytes());
        out.extend_from_slice(&self.data_set_number.to_le_bytes());
        out.extend_from_slice(&self.media_write_date.0);
    }
}

/// EOTM: end of tape marker, written between the two filemarks that close a full medium.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Eotm {
    /// PBA of the second ESET of the last set that finished completely on this medium.
    pub last_eset_pba: u64,
}

impl Eotm {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 8;

    pub(crate) fn parse(fixed: &[u8]) -> Result<Eotm> {
        let (last_eset_pba, _) = run(fixed, "EOTM block", Self::FIXED_LEN, le_u64)?;
        Ok(Eotm { last_eset_pba })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.last_eset_pba.to_le_bytes());
    }
}

/// Where an SFMB's filemark table starts.
///
/// MTF 1.00a puts the table at offset 60. SQL Server 2008 and later write a longer SFMB header:
/// the `u32` at offset 60 holds the table's offset (72), and bytes 64..72 are zero. SQL Server
/// 2005 writes the spec layout. The entry count settles which: it always equals
/// `(block size - table offset) / 8` on every sample (56 at 60 or 55 at 72 in 512-byte blocks,
/// 503 at 72 in 4096-byte blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SfmbLayout {
    /// Table at offset 60.
    Spec,
    /// Table at the offset the `u32` at 60 names, after `reserved` bytes.
    Extended { table_offset: u32 },
}

/// SFMB: a soft filemark, standing in for a hardware filemark where the medium has none. It has
/// no streams; it fills one soft filemark block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Sfmb {
    /// Capacity of the table.
    pub number_of_entries: u32,
    pub entries_used: u32,
    pub layout: SfmbLayout,
    /// Positions of earlier filemarks, most recent first; `entries_used` of them are meaningful.
    /// The spec calls them PBAs; SQL Server writes byte offsets from the start of the medium.
    pub entries: Vec<u64>,
}

impl Sfmb {
    /// Size of the fixed part after the common header (the two counts).
    pub const FIXED_LEN: usize = 8;
    /// Offset of the table in the spec layout.
    pub const SPEC_TABLE_OFFSET: usize = 60;

    /// Decodes the SFMB from its whole block (`block.len()` = soft filemark block size).
    pub(crate) fn parse(block: &[u8]) -> Result<Sfmb> {
        let fixed = block.get(52..).unwrap_or(&[]);
        let ((number_of_entries, entries_used), _) =
            run(fixed, "SFMB block", Self::FIXED_LEN, |i| {
                let (i, n) = le_u32(i)?;
                let (i, u) = le_u32(i)?;
                Ok((i, (n, u)))
            })?;
        let cap_at = |off: usize| block.len().saturating_sub(off) / 8;
        let ext = block
            .get(60..64)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        let (layout, table_offset) = if number_of_entries as usize
            == cap_at(Self::SPEC_TABLE_OFFSET)
        {
            (SfmbLayout::Spec, Self::SPEC_TABLE_OFFSET)
        } else if ext as usize >= 64
            && (ext as usize) < block.len()
            && number_of_entries as usize == cap_at(ext as usize)
        {
            (SfmbLayout::Extended { table_offset: ext }, ext as usize)
        } else {
            return Err(Error::invalid(
                52,
                "SFMB number of entries",
                format!(
                    "{number_of_entries} entries fit neither the spec layout nor a table at {ext} in a {}-byte block",
                    block.len()
                ),
            ));
        };
        if entries_used > number_of_entries {
            return Err(Error::invalid(
                56,
                "SFMB entries used",
                format!("{entries_used} used of {number_of_entries}"),
            ));
        }
        let entries = block[table_offset..]
            .chunks_exact(8)
            .take(number_of_entries as usize)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect();
        Ok(Sfmb {
            number_of_entries,
            entries_used,
            layout,
            entries,
        })
    }

    /// The filemark positions in use, most recent first.
    pub fn used_entries(&self) -> &[u64] {
        &self.entries[..(self.entries_used as usize).min(self.entries.len())]
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.number_of_entries.to_le_bytes());
        out.extend_from_slice(&self.entries_used.to_le_bytes());
    }

    /// Rebuilds the bytes after the two counts for a block of `block_len` bytes: layout prefix,
    /// table (padded with zero entries to capacity) and zero tail.
    pub(crate) fn table_bytes(&self, block_len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(block_len.saturating_sub(60));
        let table_offset = match self.layout {
            SfmbLayout::Spec => Self::SPEC_TABLE_OFFSET,
            SfmbLayout::Extended { table_offset } => {
                v.extend_from_slice(&table_offset.to_le_bytes());
                table_offset as usize
            }
        };
        v.resize(table_offset.saturating_sub(60), 0);
        for e in &self.entries {
            v.extend_from_slice(&e.to_le_bytes());
        }
        v.resize(block_len.saturating_sub(60), 0);
        v
    }
}
