//! The small fixed-layout blocks: CFIL, ESET, EOTM and SFMB (ESPB has no fields of its own).

use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u32, le_u64, run};
use crate::spec::{CorruptAttributes, SetAttributes};

/// CFIL: a corrupt object; the named stream was zero-filled from `stream_offset` on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Cfil {
    /// The attribute bits (unknown bits kept).
    pub attributes: CorruptAttributes,
    /// Reserved bytes, kept verbatim for the round trip.
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
        out.put_le(self.attributes.bits());
        out.extend_from_slice(&self.reserved);
        out.put_le(self.stream_offset);
        out.put_le(self.corrupt_stream_number);
    }
}

/// ESET: end of a data set. With a Type 1 catalog there are two: the first carries the FDD and
/// set map streams, the second records where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Eset {
    /// The attribute bits (unknown bits kept).
    pub attributes: SetAttributes,
    /// Number of corrupt files.
    pub number_of_corrupt_files: u32,
    /// Type 1: PBA of the TFDD stream header; Type 2: PBA of this ESET.
    pub reserved_for_mbc1: u64,
    /// Type 1: PBA of the TSMP stream header.
    pub reserved_for_mbc2: u64,
    /// Fdd media sequence number.
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
        out.put_le(self.attributes.bits());
        out.put_le(self.number_of_corrupt_files);
        out.put_le(self.reserved_for_mbc1);
        out.put_le(self.reserved_for_mbc2);
        out.put_le(self.fdd_media_sequence_number);
        out.put_le(self.data_set_number);
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
        out.put_le(self.last_eset_pba);
    }
}

/// Where an SFMB's filemark table starts and how wide its entries are.
///
/// MTF 1.00a puts the table at offset 60, of `u32` entries, as many as fill the block: 241 in a
/// 1 KiB block (`(1024 - 60) / 4`). NTBackup writes that layout. SQL Server writes 8-byte entries
/// (byte offsets): SQL Server 2005 at offset 60 ([`SfmbLayout::Wide`]); 2008 and later after a
/// longer header, where the `u32` at offset 60 holds the table's offset (72) and bytes 64..72 are
/// zero ([`SfmbLayout::Extended`]). The entry count settles which: every producer sets it to the
/// table's capacity, `(block size - table offset) / entry width`, and the three capacities differ
/// in any block of 68 bytes or more (in 512-byte blocks: 113, 56 and 55).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SfmbLayout {
    /// The spec's: table at offset 60, `u32` entries.
    Spec,
    /// Table at offset the `u32` at 60 names, after `reserved` bytes; `u64` entries.
    Extended {
        /// Where the table starts in the block.
        table_offset: u32,
    },
    /// Table at offset 60, `u64` entries (SQL Server 2005).
    Wide,
}

impl SfmbLayout {
    /// Where the table starts in the block.
    pub fn table_offset(self) -> usize {
        match self {
            SfmbLayout::Spec | SfmbLayout::Wide => Sfmb::SPEC_TABLE_OFFSET,
            SfmbLayout::Extended { table_offset } => table_offset as usize,
        }
    }

    /// Bytes per table entry.
    pub fn entry_width(self) -> usize {
        match self {
            SfmbLayout::Spec => 4,
            SfmbLayout::Wide | SfmbLayout::Extended { .. } => 8,
        }
    }

    /// How many whole entries fit a block of `block_len` bytes in this layout.
    pub fn capacity(self, block_len: usize) -> usize {
        block_len.saturating_sub(self.table_offset()) / self.entry_width()
    }
}

/// SFMB: a soft filemark, standing in for a hardware filemark where the medium has none. It has
/// no streams; it fills one soft filemark block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Sfmb {
    /// Capacity of the table.
    pub number_of_entries: u32,
    /// Entries used.
    pub entries_used: u32,
    /// Layout.
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
        let ext = block
            .get(60..64)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        let n = number_of_entries as usize;
        let layout = if n == SfmbLayout::Spec.capacity(block.len()) {
            SfmbLayout::Spec
        } else if n == SfmbLayout::Wide.capacity(block.len()) {
            SfmbLayout::Wide
        } else if ext as usize >= 64
            && (ext as usize) < block.len()
            && n == (SfmbLayout::Extended { table_offset: ext }).capacity(block.len())
        {
            SfmbLayout::Extended { table_offset: ext }
        } else {
            return Err(Error::invalid(
                52,
                "SFMB number of entries",
                format!(
                    "{number_of_entries} entries fit neither the spec layout (4-byte entries at 60), \
                     8-byte entries at 60, nor 8-byte entries at {ext}, in a {}-byte block",
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
        let width = layout.entry_width();
        let entries = block[layout.table_offset()..]
            .chunks_exact(width)
            .take(n)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..width].copy_from_slice(c);
                u64::from_le_bytes(b)
            })
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
        out.put_le(self.number_of_entries);
        out.put_le(self.entries_used);
    }

    /// Rebuilds the bytes after the two counts for a block of `block_len` bytes: layout prefix,
    /// table (padded with zero entries to capacity) and zero tail. An entry too wide for the
    /// layout is refused.
    pub(crate) fn table_bytes(&self, block_len: usize) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(block_len.saturating_sub(60));
        if let SfmbLayout::Extended { table_offset } = self.layout {
            v.put_le(table_offset);
        }
        v.resize(self.layout.table_offset().saturating_sub(60), 0);
        let width = self.layout.entry_width();
        for &e in &self.entries {
            if width < 8 && e >> (8 * width) != 0 {
                return Err(Error::Encode {
                    field: "SFMB entry",
                    reason: format!("{e} does not fit the layout's {width}-byte entries"),
                });
            }
            v.extend_from_slice(&e.to_le_bytes()[..width]);
        }
        v.resize(block_len.saturating_sub(60), 0);
        Ok(v)
    }
}
